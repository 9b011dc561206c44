"""Where the items are explained: Dask workers, or (for debugging) this process.

Both engines have the same methods; the runner drives them:

* ``describe(job)``: loads the model (every Dask worker starts loading it) and returns
  the model's info (input shape, classes, layer) as soon as one worker has it;
* ``prepare(job, items)``: estimates the feature statistics once, on one worker;
* ``wait_ready()``: waits for every worker's model and returns their load times;
* ``map(job, state, token, chunks)``: yields ``(chunk, result)`` as chunks finish, with a
  bounded number in flight; ``result`` is :meth:`Explainer.explain`'s dict, or a message
  (str) when the chunk was lost with its workers.
"""
import contextlib
import logging
import tempfile
import time
import uuid

from .cluster import WorkerEvents, check_workers, connect
from .errors import DASK_EXTRA_HINT, DatasetError, MissingDaskError
from .worker import Explainer, cpu_count, explain_task, prepare_task, warm_up_task

__all__ = ["import_distributed", "DaskEngine", "InProcessEngine"]

# Chunks queued per worker thread: one running, one waiting, so no worker waits for the client.
QUEUED_PER_THREAD = 2


def import_distributed():
    """Imports ``distributed``, or raises :class:`MissingDaskError` naming the extra."""
    try:
        import distributed
    except ImportError as error:
        raise MissingDaskError(
            "explain-dataset runs its workers on Dask, which is not installed ({}): "
            "{} (or pass --workers 0 to explain in this process, one item "
            "chunk after another)".format(error, DASK_EXTRA_HINT))
    return distributed


def _remote_error(error, what):
    if isinstance(error, DatasetError):
        return error
    lines = str(error).strip().splitlines()
    return DatasetError("{} failed on a worker: {}: {}".format(
        what, type(error).__name__, lines[0] if lines else ""))


class InProcessEngine:
    """Explains in the calling process, one chunk after another (no Dask needed).

    Args:
        tf_threads (int): limit TensorFlow to this many threads (replaces Keras' session);
            None keeps the current Keras session.
    """

    description = "in this process (no Dask)"

    def __init__(self, tf_threads=None):
        self.tf_threads = tf_threads
        self.n_workers = 1
        self._explainer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._explainer = None

    def _load(self, job):
        if self._explainer is None or self._explainer.job.model_key() != job.model_key():
            self._explainer = Explainer(job, self.tf_threads)
        self._explainer.job = job
        return self._explainer

    def describe(self, job):
        """Loads the model; returns its info."""
        return self._load(job).info

    def prepare(self, job, fit_items):
        """Estimates the statistics; returns ``{"state", "fit_used", ...}``."""
        explainer = self._load(job)
        start = time.time()
        state, used = explainer.fit(fit_items)
        return {"info": explainer.info, "state": state, "fit_used": used,
                "fit_seconds": time.time() - start, "load_seconds": explainer.load_seconds}

    def wait_ready(self):
        """The model's load time, as a one-entry list."""
        return [self._explainer.load_seconds] if self._explainer else []

    def map(self, job, state, token, chunks):
        """Explains the chunks in order."""
        explainer = self._load(job)
        for chunk in chunks:
            yield chunk, explainer.explain(chunk, state, token)


class DaskEngine:
    """Explains on Dask workers: a new ``LocalCluster``, or an existing cluster.

    Args:
        workers (int): worker processes of the local cluster (default: one per core);
            ignored with ``scheduler``.
        scheduler (str): address of a running scheduler (e.g. ``tcp://10.0.0.1:8786``).
        tf_threads (int): TensorFlow threads per worker; None: the host's cores divided by
            its workers.
        connect_timeout (float): seconds to wait for the scheduler and its first worker
            (None: Dask's ``distributed.comm.timeouts.connect``, 30 s by default).
        log (callable): where Dask's reports of workers leaving or joining go.
    """

    def __init__(self, workers=None, scheduler=None, tf_threads=None, connect_timeout=None,
                 log=None):
        self._distributed = import_distributed()
        self.log = log or (lambda *args: None)
        self.workers = workers
        self.scheduler = scheduler
        self.tf_threads = tf_threads
        self.connect_timeout = connect_timeout
        self.client = None
        self._stack = None
        self._warm_ups = []
        self.description = ""

    # ------------------------------------------------------------------ cluster
    def __enter__(self):
        self._stack = contextlib.ExitStack()
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def _start(self):
        distributed = self._distributed
        if self.scheduler:
            self.client = self._stack.enter_context(connect(
                distributed, self.scheduler, self.connect_timeout))
            check_workers(self.client)
            self.description = "on the Dask cluster at {}".format(self.scheduler)
        else:
            n = self.workers or cpu_count()
            threads = self.tf_threads or max(1, cpu_count() // n)
            self.tf_threads = threads
            scratch = self._stack.enter_context(tempfile.TemporaryDirectory(
                prefix="iba-tf-dask-"))
            cluster = self._stack.enter_context(distributed.LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                silence_logs=logging.ERROR, local_directory=scratch,
                env={"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
                     "TF_CPP_MIN_LOG_LEVEL": "3"}))
            self.client = self._stack.enter_context(distributed.Client(cluster))
            self.description = "on a local Dask cluster of {} worker process{} ({} " \
                "TensorFlow thread{} each)".format(n, "es" if n > 1 else "", threads,
                                                   "s" if threads > 1 else "")
        self.n_workers = len(self._workers())

    def __exit__(self, *exc):
        self._warm_ups = []
        self._stack.close()

    def _workers(self):
        return self.client.scheduler_info()["workers"]

    def _threads(self):
        return sum(worker.get("nthreads", 1) for worker in self._workers().values()) or 1

    def host_workers(self):
        """``(host, number of workers)`` pairs of the cluster now."""
        from distributed.comm import get_address_host
        counts = {}
        for address in self._workers():
            host = get_address_host(address)
            counts[host] = counts.get(host, 0) + 1
        return tuple(sorted(counts.items()))

    # ------------------------------------------------------------------ model and statistics
    def describe(self, job):
        """Starts loading the model on every worker; returns the first one's info."""
        distributed = self._distributed
        if not self._workers():
            raise DatasetError("the Dask cluster has no workers{}".format(
                " at " + self.scheduler if self.scheduler else
                " (they did not start: in a script, call explain_dataset under "
                "if __name__ == '__main__':)"))
        self._warm_ups = [self.client.submit(warm_up_task, job, workers=[address],
                                             allow_other_workers=True, pure=False,
                                             key="iba-load-model-" + uuid.uuid4().hex[:8])
                          for address in self._workers()]
        done, _ = distributed.wait(self._warm_ups, return_when="FIRST_COMPLETED")
        try:
            return next(iter(done)).result()["info"]
        except Exception as error:
            raise _remote_error(error, "loading the model")

    def prepare(self, job, fit_items):
        """Estimates the statistics on one worker; returns ``{"state", "fit_used", ...}``."""
        future = self.client.submit(prepare_task, job, fit_items, pure=False,
                                    key="iba-fit-statistics-" + uuid.uuid4().hex[:8])
        try:
            return future.result()
        except Exception as error:
            raise _remote_error(error, "estimating the statistics")

    def wait_ready(self):
        """Waits for every worker's model; returns the load times (seconds)."""
        seconds = []
        for future in self._warm_ups:
            try:
                seconds.append(future.result()["load_seconds"])
            except self._distributed.scheduler.KilledWorker:
                continue                      # that worker died; the others go on
            except Exception as error:
                raise _remote_error(error, "loading the model")
        self._warm_ups = []
        return seconds

    # ------------------------------------------------------------------ explaining
    def map(self, job, state, token, chunks):
        """Runs the chunks on the workers; yields ``(chunk, result)`` as they finish."""
        distributed = self._distributed
        client = self.client
        state_future = client.scatter(state, broadcast=True, hash=False)
        chunks = iter(chunks)
        in_flight = {}
        finished = distributed.as_completed()
        events = WorkerEvents(client)

        def submit_more():
            limit = QUEUED_PER_THREAD * self._threads()
            while len(in_flight) < limit:
                chunk = next(chunks, None)
                if chunk is None:
                    return
                future = client.submit(explain_task, job, state_future, token, chunk,
                                       pure=False, key="iba-explain-{}-{}".format(
                                           chunk[0].index, uuid.uuid4().hex[:8]))
                in_flight[future.key] = (future, chunk)
                finished.add(future)

        try:
            submit_more()
            for batch in finished.batches():
                for future in batch:
                    _, chunk = in_flight.pop(future.key)
                    try:
                        result = future.result()
                    except distributed.scheduler.KilledWorker as error:
                        result = "lost: the workers explaining it died ({})".format(error)
                    except Exception as error:
                        raise _remote_error(error, "explaining items {} to {}".format(
                            chunk[0].key, chunk[-1].key))
                    future.release()
                    yield chunk, result
                for line in events.poll():
                    self.log(line)
                submit_more()
            for line in events.poll(force=True):
                self.log(line)
        finally:
            client.cancel([future for future, _ in in_flight.values()] + [state_future],
                          force=True)
