"""Using a Dask cluster started with ``dask-scheduler`` / ``dask-worker`` (``--scheduler``).

* :func:`connect` reaches the scheduler and its first worker in a bounded time (Dask's
  ``distributed.comm.timeouts.connect``, 30 s by default; set it with the environment variable
  ``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=10s``) or raises :class:`DatasetError`.
* :func:`check_workers` asks every worker, once at the start, whether it can import iba_tf
  and which versions of Python, iba_tf and TensorFlow it runs, and raises
  :class:`DatasetError` naming them when they differ from this process's.
* :class:`WorkerEvents` turns the scheduler's records of workers that leave (die) or join
  while a run goes on into log lines.

:class:`iba_tf.dataset.loopback.LoopbackCluster` starts such a cluster on one machine.
"""
import concurrent.futures
import logging
import time

from .errors import DatasetError

__all__ = ["connect", "connect_timeout", "local_versions", "check_workers", "WorkerEvents"]

# Runs in this process and, sent by value, in every worker: a worker that cannot import iba_tf
# must still run it, so it is compiled from source (cloudpickle sends such a function whole
# instead of naming its module). TensorFlow is not imported for it: its installed version is
# read unless the process has imported it already.
_VERSIONS_SOURCE = '''
def versions():
    import sys
    found = {"python": "{}.{}.{}".format(*sys.version_info[:3])}
    try:
        import iba_tf
        found["iba_tf"] = iba_tf.__version__
    except Exception as error:
        found["iba_tf"] = None
        found["import_error"] = "{}: {}".format(type(error).__name__, error)
    tf = sys.modules.get("tensorflow")
    found["tensorflow"] = getattr(tf, "__version__", None)
    names = ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-intel",
             "tensorflow-macos", "tf-nightly")
    try:
        from importlib import metadata
    except ImportError:
        try:
            import importlib_metadata as metadata
        except ImportError:
            metadata = None
    for name in names if found["tensorflow"] is None and metadata else ():
        try:
            found["tensorflow"] = metadata.version(name)
            break
        except Exception:
            continue
    return found
'''


def _compile(source, name):
    """The function ``name`` defined by ``source``, in no module (so pickled by value)."""
    namespace = {"__name__": "iba_tf_dask_probe"}
    exec(compile(source, "<iba_tf {}>".format(name), "exec"), namespace)
    return namespace[name]


_versions = _compile(_VERSIONS_SOURCE, "versions")


def local_versions():
    """This process's versions: ``{"python", "iba_tf", "tensorflow"}`` (None: not found)."""
    return _versions()


def connect_timeout():
    """Seconds to wait for the scheduler: Dask's ``distributed.comm.timeouts.connect``."""
    import dask
    from dask.utils import parse_timedelta
    return parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"), "seconds")


class _UnretrievedTimeouts(logging.Filter):
    """Drops asyncio's "Future exception was never retrieved" reports of a TimeoutError.

    distributed's client can leave such a future behind when it closes on a busy machine
    (seen with 2022.2 at the exit of a run that stopped with an error); it is not an error of
    the run, and it would turn a one-line message into several.
    """

    def filter(self, record):
        exception = (record.exc_info or (None, None))[1]
        context = getattr(record, "msg", "")
        return not (str(context).startswith("Future exception was never retrieved") and
                    isinstance(exception, (TimeoutError, concurrent.futures.TimeoutError)))


def _quiet_unretrieved_timeouts():
    log = logging.getLogger("asyncio")
    if not any(isinstance(f, _UnretrievedTimeouts) for f in log.filters):
        log.addFilter(_UnretrievedTimeouts())


def connect(distributed, address, timeout=None):
    """A ``distributed.Client`` of the scheduler at ``address`` that has a worker.

    Args:
        distributed: the imported ``distributed`` module.
        address (str): e.g. ``tcp://10.0.0.1:8786``.
        timeout (float): seconds to wait for the scheduler, and again for a first worker;
            None: :func:`connect_timeout`.

    Raises:
        DatasetError: the scheduler cannot be reached, or has no worker, in that time.
    """
    timeout = connect_timeout() if timeout is None else timeout
    _quiet_unretrieved_timeouts()
    hint = "set DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=60s to wait longer"
    try:
        client = distributed.Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as error:
        text = str(error).strip().splitlines()
        raise DatasetError(
            "cannot reach the Dask scheduler at {} within {:g} s ({}): is dask-scheduler "
            "running there, and is the address (tcp://HOST:PORT) right? ({})".format(
                address, timeout, text[0] if text else type(error).__name__, hint))
    try:
        client.wait_for_workers(1, timeout=timeout)
    except Exception as error:      # distributed's TimeoutError differs between releases
        client.close()
        if not isinstance(error, (OSError, TimeoutError)) and "imeout" not in \
                type(error).__name__:
            raise
        raise DatasetError("the Dask scheduler at {} has no workers (waited {:g} s): start "
                           "'dask-worker {}' on the worker machines ({})".format(
                               address, timeout, address, hint))
    return client


def _describe(versions):
    return "iba_tf {} with TensorFlow {} on Python {}".format(
        versions.get("iba_tf") or "(none)", versions.get("tensorflow") or "(not installed)",
        versions.get("python"))


def _more(addresses):
    return addresses[0] + (" and {} more".format(len(addresses) - 1)
                           if len(addresses) > 1 else "")


def check_workers(client, expected=None):
    """Checks that every worker imports iba_tf and runs the versions of this process.

    Compares iba_tf's and TensorFlow's versions and Python's ``major.minor`` (the tasks are
    pickled). Run once at the start: a worker that joins later is not checked.

    Args:
        client: a ``distributed.Client``.
        expected (dict): the versions to expect; None: :func:`local_versions`.

    Returns:
        dict: worker address -> its versions.

    Raises:
        DatasetError: naming the workers and their versions, and the fix.
    """
    expected = local_versions() if expected is None else expected
    found = client.run(_versions)
    broken = sorted(address for address, versions in found.items() if not versions["iba_tf"])
    if broken:
        raise DatasetError(
            "the Dask worker{} {} cannot import iba_tf ({}); install iba-tf on every worker "
            "machine, the same as here: {}".format(
                "s" if len(broken) > 1 else "", _more(broken),
                found[broken[0]].get("import_error"), _describe(expected)))
    want = _key(expected)
    other = sorted(address for address, versions in found.items() if _key(versions) != want)
    if other:
        raise DatasetError(
            "the Dask worker{} {} run{} {}, this process {}; install the same versions on "
            "every worker machine".format(
                "s" if len(other) > 1 else "", _more(other), "" if len(other) > 1 else "s",
                _describe(found[other[0]]), _describe(expected)))
    return found


def _key(versions):
    return (versions.get("iba_tf"), versions.get("tensorflow"),
            tuple(str(versions.get("python")).split(".")[:2]))


# Runs in the scheduler (sent by value, like the probe): Dask's own record of the workers that
# left or joined after ``since`` (its clock), with the tasks a leaving worker was running.
_EVENTS_SOURCE = '''
def worker_events(dask_scheduler=None, since=None):
    found, latest = [], since or 0.0
    for stamp, message in list(dask_scheduler.events.get("all", ())):
        latest = max(latest, stamp)
        if since is None or stamp <= since:
            continue
        if message.get("action") in ("remove-worker", "add-worker"):
            tasks = sorted(str(getattr(task, "key", task))
                           for task in message.get("processing-tasks") or ())
            found.append((message["action"], str(message.get("worker")), tasks))
    return latest, found
'''
_worker_events = _compile(_EVENTS_SOURCE, "worker_events")


class WorkerEvents:
    """Dask's reports of workers that left (died) or joined during a run, as log lines.

    The scheduler records a worker it removes (``remove-worker``, with the tasks the worker
    was running, which Dask then runs on another worker) and one that joins (``add-worker``);
    :meth:`poll` reads the records made since the previous call from the scheduler.

    Args:
        client: a ``distributed.Client``.
        interval (float): :meth:`poll` asks the scheduler at most this often (seconds).
    """

    def __init__(self, client, interval=2.):
        self.client = client
        self.interval = interval
        self.lines = []
        self._since, _ = client.run_on_scheduler(_worker_events)
        self._asked = time.time()

    def poll(self, force=False):
        """The new reports (also appended to :attr:`lines`), as log lines."""
        if not force and time.time() - self._asked < self.interval:
            return []
        self._asked = time.time()
        self._since, found = self.client.run_on_scheduler(_worker_events, since=self._since)
        new = [_event_line(*event) for event in found]
        self.lines.extend(new)
        return new


def _event_line(action, worker, tasks):
    if action == "add-worker":
        return "Dask: added worker {}".format(worker)
    return "Dask: removed worker {} (it died or left) with {} task{} running or queued{}; " \
        "Dask runs {} on the other workers".format(worker, len(tasks), "" if len(tasks) == 1 else "s",
                                         " (" + ", ".join(tasks) + ")" if tasks else "",
                                         "it" if len(tasks) == 1 else "them")
