"""Importing TensorFlow and Keras without their start-up chatter (no TensorFlow at import)."""
import contextlib
import io
import os
import warnings

__all__ = ["quiet_tensorflow"]


def quiet_tensorflow():
    """Imports keras and TensorFlow with their log and warnings silenced.

    Call it before the first import of keras: keras prints "Using TensorFlow backend." on
    stderr when it is imported, and TensorFlow logs its start-up at INFO level. (It lives
    outside :mod:`iba_tf.tensorflow_v1`, whose import loads keras.)
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore")
    with contextlib.redirect_stderr(io.StringIO()):
        import keras  # noqa: F401  (prints "Using TensorFlow backend." on stderr)
        import tensorflow as tf
    tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)
