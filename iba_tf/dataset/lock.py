"""One run per result file: a lock file next to the output, held for the whole run.

HDF5's own lock covers only an open file, and a new file is written under a temporary name
and renamed into place: a second run (``--overwrite``, or one that started before the first
created the file) would get past it and replace the first run's work. The lock here is taken
on ``RESULTS.h5.lock`` before anything is read or written and released when the run ends. It
is an ``flock`` lock, which the kernel drops when its process dies, so a killed run leaves at
most an unlocked file behind and never blocks the next one. On systems without ``fcntl``
(Windows) runs are not locked.
"""
import os

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None

from .errors import DatasetError

__all__ = ["OutputLock", "lock_path"]


def lock_path(out):
    """The lock file of the result file ``out``."""
    return out + ".lock"


def _holder(fd):
    """What the lock file says about the run that holds it (its process id), or ''."""
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return " (process {})".format(text) if text.isdigit() else ""


class OutputLock:
    """An exclusive lock on a result file for as long as a run writes it.

    Use it as a context manager around everything a run does with ``out``.

    Args:
        out (str): the result file (it need not exist yet).

    Raises:
        ~iba_tf.errors.InputError: (on entry) another run holds the lock, ``out`` is a
            folder, or the lock file cannot be created (e.g. the folder does not exist).

    Example:
        >>> with OutputLock("val_iba.h5"):
        ...     pass                      # create, open and write val_iba.h5
    """

    def __init__(self, out):
        self.out = out
        self.path = lock_path(out)
        self._fd = None

    def __enter__(self):
        if os.path.isdir(self.out):
            raise DatasetError("--out {} is a folder; give the HDF5 file to write, e.g. {}"
                               .format(self.out, os.path.join(self.out, "results.h5")))
        if fcntl is None:  # pragma: no cover - not on POSIX
            return self
        while True:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _holder(fd)
                os.close(fd)
                raise DatasetError(
                    "{} is being written by another run{}: wait for it to finish, or write to "
                    "another --out (its lock file is {})".format(self.out, holder, self.path))
            # a run that finished in between may have removed the file we locked: lock anew
            if self._is_current(fd):
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        self._fd = fd
        return self

    def _open(self):
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as error:
            raise DatasetError("cannot create {} next to the output file: {}; check that its "
                               "folder exists and is writable".format(
                                   self.path, error.strerror or error))

    def _is_current(self, fd):
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def __exit__(self, *exc):
        if self._fd is not None:
            # removed while still locked, so a waiting run cannot lock a file about to go
            try:
                os.remove(self.path)
            except OSError:
                pass
            os.close(self._fd)
            self._fd = None
