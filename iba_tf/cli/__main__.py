"""``python -m iba_tf.cli``: the same as the ``iba-tf`` command."""
import sys

from . import main

sys.exit(main())
