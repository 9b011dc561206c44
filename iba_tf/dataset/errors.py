"""The exceptions of :mod:`iba_tf.dataset`."""

__all__ = ["DatasetError", "MissingDaskError"]

DASK_EXTRA_HINT = 'pip install "iba-tf[dask]"'


class DatasetError(Exception):
    """Bad input for a data-set run (names the bad value and what was expected).

    The ``iba-tf explain-dataset`` command prints it as one line with exit code 2.
    """


class MissingDaskError(DatasetError, ImportError):
    """Dask (``dask`` / ``distributed``) is needed but not installed."""
