"""The exceptions of :mod:`iba_tf.dataset`."""
from ..errors import InputError

__all__ = ["DatasetError", "MissingDaskError"]

DASK_EXTRA_HINT = 'pip install "iba-tf[dask]"'

#: Bad input for a data-set run: the library's one exception for bad user input,
#: :class:`iba_tf.errors.InputError`, under the name this package has always used. The
#: ``iba-tf explain-dataset`` command prints it as one line with exit code 2.
DatasetError = InputError


class MissingDaskError(InputError, ImportError):
    """Dask (``dask`` / ``distributed``) is needed but not installed."""
