"""The documented ``dask-scheduler`` / ``dask-worker`` commands as processes on 127.0.0.1.

For the tests, the benchmark, and trying the multi-machine recipe of docs/dataset.md on one
machine.

Example:
    >>> with LoopbackCluster() as cluster:          # dask-scheduler + one dask-worker command
    ...     cluster.add_worker("--nworkers", "2")
    ...     cluster.wait_for_workers(2)
    ...     explain_dataset("model.h5", "images/", "out.h5", scheduler=cluster.address)
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

__all__ = ["LoopbackCluster"]


class LoopbackCluster:
    """``dask-scheduler`` and ``dask-worker`` commands as processes on 127.0.0.1.

    The scheduler listens on a free port (:attr:`address`); each :meth:`add_worker` starts one
    ``dask-worker`` command. Each command runs in its own process group, and leaving the
    ``with`` block stops them all (SIGTERM, then SIGKILL), also after an error. Their output
    goes to files in :attr:`folder`.

    Args:
        bin_dir (str): where the commands are (default: next to this Python).
        timeout (float): seconds to wait for the scheduler to start.
        env (dict): extra environment variables for every command.
    """

    def __init__(self, bin_dir=None, timeout=60., env=None):
        self.bin_dir = bin_dir or os.path.dirname(sys.executable)
        self.timeout = timeout
        self.env = dict(os.environ, **(env or {}))
        self.address = None
        self.scheduler = None
        self.workers = []
        self._folder = None
        self.folder = None

    def _start(self, name, args, env=None):
        log = open(os.path.join(self.folder, "{}.log".format(name)), "wb")
        command = [os.path.join(self.bin_dir, args[0])] + list(args[1:])
        with log:
            return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=self.folder,
                                    env=dict(self.env, **(env or {})), start_new_session=True)

    def __enter__(self):
        self._folder = tempfile.TemporaryDirectory(prefix="iba-tf-cluster-")
        self.folder = self._folder.name
        try:
            self._start_scheduler()
        except BaseException:
            self.close()
            raise
        return self

    def _start_scheduler(self):
        info = os.path.join(self.folder, "scheduler.json")
        self.scheduler = self._start("scheduler", [
            "dask-scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
            "--scheduler-file", info])
        deadline = time.time() + self.timeout
        while time.time() < deadline and self.scheduler.poll() is None:
            try:
                with open(info) as f:
                    self.address = json.load(f)["address"]
                return
            except (OSError, ValueError, KeyError):
                time.sleep(0.1)
        raise RuntimeError("dask-scheduler did not start within {:g} s:\n{}".format(
            self.timeout, self.log("scheduler")))

    def add_worker(self, *args, env=None, name=None):
        """Starts ``dask-worker ADDRESS --nthreads 1 --no-dashboard ARGS``; returns the process.

        ``name`` names its log file (default ``worker-N``); ``env`` adds variables.
        """
        name = name or "worker-{}".format(len(self.workers))
        process = self._start(name, ["dask-worker", self.address, "--host", "127.0.0.1",
                                     "--nthreads", "1", "--no-dashboard"] + list(args), env)
        process.log_name = name
        self.workers.append(process)
        return process

    def wait_for_workers(self, n, timeout=120.):
        """Waits until the scheduler has ``n`` workers; returns their addresses."""
        import distributed
        with distributed.Client(self.address, timeout=timeout, set_as_default=False) as client:
            client.wait_for_workers(n, timeout=timeout)
            return sorted(client.scheduler_info()["workers"])

    def log(self, name):
        """The output of the command ``name`` (``scheduler``, ``worker-0``...) so far."""
        try:
            with open(os.path.join(self.folder, name + ".log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    @staticmethod
    def stop(process, timeout=20.):
        """Stops a command and its process group: SIGTERM, then SIGKILL after ``timeout``."""
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, timeout)):
            try:
                os.killpg(process.pid, sig)
            except OSError:            # the group is gone already
                pass
            try:
                process.wait(wait)
                if sig == signal.SIGKILL or process.returncode is not None:
                    os.killpg(process.pid, signal.SIGKILL)    # stragglers of the group
            except (subprocess.TimeoutExpired, OSError):
                continue
            return

    def close(self):
        """Stops every worker, then the scheduler, and removes :attr:`folder`."""
        for process in self.workers + ([self.scheduler] if self.scheduler else []):
            self.stop(process)
        self.workers, self.scheduler = [], None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    def __exit__(self, *exc):
        self.close()
