"""explain-dataset on a cluster started with the documented commands (docs/dataset.md).

``dask-scheduler`` and ``dask-worker`` run as separate processes on 127.0.0.1 (a free port,
stopped at the end also when a test fails), and ``iba-tf explain-dataset --scheduler`` runs
as a third process against them, as on several machines sharing a file system.
"""
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from conftest import save_tiny_cnn

pytest.importorskip("distributed")

from iba_tf.dataset import read_results  # noqa: E402
from iba_tf.dataset.cluster import local_versions  # noqa: E402
from iba_tf.dataset.loopback import LoopbackCluster  # noqa: E402
from iba_tf.dataset.store import DONE  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir))
N_ITEMS = 32
# The workers import this tree's iba_tf, like the command; short Dask timeouts keep the
# error cases quick.
ENV = {"PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": "1",
       "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "3s"}
RUN_TIMEOUT = 240
# The iba-tf command of this environment (the same entry point where it is not installed).
IBA_TF = [os.path.join(os.path.dirname(sys.executable), "iba-tf")]
if not os.path.exists(IBA_TF[0]):
    IBA_TF = [sys.executable, "-c", "import sys; from iba_tf.cli import main; sys.exit(main())"]

# Loaded by a worker with --preload: waits while the file "pause-NAME" exists, marks each chunk it
# starts (a file named after the worker and the chunk's first item, holding the chunk's items)
# and sleeps IBA_TEST_SLOW seconds. Dask may load a preload file more than once: it wraps the
# method once.
SLOW_PRELOAD = """
import os
import time
from iba_tf.dataset import worker


def marked(self, items, *args, **kwargs):
    marks, worker_name = os.environ["IBA_TEST_MARKS"], os.environ["IBA_TEST_NAME"]
    while os.path.exists(os.path.join(marks, "pause-" + worker_name)):
        time.sleep(0.05)
    name = "{}-{:03d}".format(worker_name, items[0].index)
    with open(os.path.join(marks, name), "w") as f:
        f.write(" ".join(str(item.index) for item in items))
    time.sleep(float(os.environ.get("IBA_TEST_SLOW", "0")))
    return worker.Explainer.unmarked_explain(self, items, *args, **kwargs)


if not hasattr(worker.Explainer, "unmarked_explain"):
    worker.Explainer.unmarked_explain = worker.Explainer.explain
    worker.Explainer.explain = marked
"""
OLD_VERSION_PRELOAD = "import iba_tf\niba_tf.__version__ = '0.0.1'\n"
NO_IBA_TF_PRELOAD = "import sys\nsys.modules['iba_tf'] = None\n"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A tiny saved CNN (16x16, 3 classes) and 2 class folders of 16 images each."""
    root = tmp_path_factory.mktemp("cluster")
    rng = np.random.RandomState(0)
    model = save_tiny_cnn(str(root / "tiny.h5"), size=16, classes=3)
    for name in ("cat", "dog"):
        (root / "images" / name).mkdir(parents=True)
        for i in range(N_ITEMS // 2):
            Image.fromarray((rng.rand(18, 18, 3) * 255).astype(np.uint8)).save(
                str(root / "images" / name / "{:02d}.png".format(i)))
    for name, text in [("slow.py", SLOW_PRELOAD), ("old_version.py", OLD_VERSION_PRELOAD),
                       ("no_iba_tf.py", NO_IBA_TF_PRELOAD)]:
        (root / name).write_text(text)
    import keras
    keras.backend.clear_session()
    return root, model, str(root / "images")


@pytest.fixture(scope="module")
def scheduler():
    """``dask-scheduler`` on 127.0.0.1 and a free port, for the whole module."""
    with LoopbackCluster(env=ENV) as cluster:
        yield cluster


@pytest.fixture
def cluster(scheduler):
    """The scheduler; the workers a test starts are stopped after it."""
    yield scheduler
    for process in scheduler.workers:
        scheduler.stop(process)
    scheduler.workers = []


def explain_command(model, images, out, address, *extra):
    """The ``iba-tf explain-dataset --scheduler`` command line of these tests."""
    return IBA_TF + ["explain-dataset", model, images, "--out", out,
            "--scheduler", address, "--targets", "label", "--steps", "2", "--batch-size", "4",
            "--fit-samples", "16", "--chunk-size", "2", "--no-progress"] + list(extra)


def run_command(command, **kwargs):
    return subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, cwd=ROOT, env=dict(os.environ, **ENV),
                          timeout=RUN_TIMEOUT, **kwargs)


def check_every_item_once(out, stdout):
    """Every item is done once in the file, and the run wrote each exactly once."""
    results = read_results(out)
    assert len(results["key"]) == len(set(results["key"])) == N_ITEMS
    np.testing.assert_array_equal(results["status"], np.full(N_ITEMS, DONE))
    assert np.all(np.isfinite(results["saliency"]))
    np.testing.assert_array_equal(results["target"], results["label"])
    # "explained" counts the items the client wrote: a chunk written twice would show here
    assert "Done: {} items explained".format(N_ITEMS) in stdout, stdout
    return results


def test_the_documented_commands_explain_every_item_once(data, cluster):
    root, model, images = data
    cluster.add_worker("--nworkers", "2")               # as the docs: --nthreads 1
    cluster.wait_for_workers(2)
    out = str(root / "docs.h5")
    done = run_command(explain_command(model, images, out, cluster.address))
    assert done.returncode == 0, done.stderr
    assert "Workers: on the Dask cluster at {}".format(cluster.address) in done.stdout
    check_every_item_once(out, done.stdout)


def _marks(folder, name):
    return sorted(entry for entry in os.listdir(folder) if entry.startswith(name + "-"))


def _wait_for(condition, what, process, timeout=RUN_TIMEOUT):
    deadline = time.time() + timeout
    while not condition():
        assert process.poll() is None, "the run ended before " + what
        assert time.time() < deadline, "timed out waiting for " + what
        time.sleep(0.05)


def test_a_killed_worker_is_replaced_and_no_item_is_lost_or_duplicated(data, cluster, tmp_path):
    root, model, images = data
    marks = str(tmp_path)
    slow = {"IBA_TEST_MARKS": marks, "IBA_TEST_SLOW": "1"}
    preload = ["--no-nanny", "--preload", str(root / "slow.py")]
    doomed = cluster.add_worker(*preload, env=dict(slow, IBA_TEST_NAME="a"))
    (doomed_address,) = cluster.wait_for_workers(1)
    cluster.add_worker(*preload, env=dict(slow, IBA_TEST_NAME="b"))
    cluster.wait_for_workers(2)
    out = str(root / "killed.h5")
    with open(str(tmp_path / "stdout.txt"), "w+") as stdout:
        run = subprocess.Popen(explain_command(model, images, out, cluster.address),
                               stdout=stdout, stderr=subprocess.PIPE, universal_newlines=True,
                               cwd=ROOT, env=dict(os.environ, **ENV))
        try:
            # worker a finished its first chunk and sleeps in its second: kill it there
            _wait_for(lambda: len(_marks(marks, "a")) >= 2, "worker a's second chunk", run)
            pause = os.path.join(marks, "pause-b")      # b waits until the replacement works
            open(pause, "w").close()
            os.killpg(doomed.pid, signal.SIGKILL)
            doomed.wait(30)
            cluster.add_worker(*preload, env=dict(slow, IBA_TEST_NAME="c", IBA_TEST_SLOW="0"))
            _wait_for(lambda: _marks(marks, "c"), "the replacement's first chunk", run)
            os.remove(pause)
            _, errors = run.communicate(timeout=RUN_TIMEOUT)
        finally:
            run.kill()
        stdout.seek(0)
        log = stdout.read()
    assert run.returncode == 0, errors
    results = check_every_item_once(out, log)
    # work lost with worker a was explained again elsewhere: the chunk it died in, or one whose
    # result was still held by the worker (Dask recomputes those too; which of them depends on
    # timing: seen both)
    def chunk(name):
        return open(os.path.join(marks, name)).read().split()
    started_by_a = [chunk(name) for name in _marks(marks, "a")]
    again = [chunk(name) for name in _marks(marks, "b") + _marks(marks, "c")
             if chunk(name) in started_by_a]
    assert again, (started_by_a, os.listdir(marks))
    assert all(results["status"][int(index)] == DONE for items in again for index in items)
    assert _marks(marks, "c"), "the replacement worker explained nothing: " + log
    # the failure, as Dask reported it: the worker removed with the chunks it still held
    (lost,) = [line for line in log.splitlines() if line.startswith("Dask: removed worker")]
    assert lost.startswith("Dask: removed worker {} (it died or left) with ".format(
        doomed_address)), log
    assert any("iba-explain-{}-".format(items[0]) in lost for items in again), log


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _one_line_error(done):
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("iba-tf: error: "), done.stderr
    return lines[0]


def test_an_unreachable_scheduler_or_no_workers_is_one_line_in_bounded_time(data, cluster):
    root, model, images = data
    nobody = "tcp://127.0.0.1:{}".format(_free_port())
    out = str(root / "never.h5")
    start = time.time()
    line = _one_line_error(run_command(explain_command(model, images, out, nobody)))
    assert "cannot reach the Dask scheduler at {} within 3 s".format(nobody) in line
    assert "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT" in line
    line = _one_line_error(run_command(explain_command(model, images, out, cluster.address)))
    assert "the Dask scheduler at {} has no workers (waited 3 s)".format(
        cluster.address) in line
    assert time.time() - start < 60 and not os.path.exists(out)


def test_workers_without_iba_tf_or_with_other_versions_are_refused(data, cluster):
    root, model, images = data
    out = str(root / "never.h5")
    mine = local_versions()
    cluster.add_worker("--preload", str(root / "old_version.py"))
    (old,) = cluster.wait_for_workers(1)
    line = _one_line_error(run_command(explain_command(model, images, out, cluster.address)))
    assert "the Dask worker {} runs iba_tf 0.0.1 with TensorFlow {} on Python {}, this " \
        "process iba_tf {} with TensorFlow {}".format(
            old, mine["tensorflow"], mine["python"], mine["iba_tf"],
            mine["tensorflow"]) in line, line
    cluster.add_worker("--preload", str(root / "no_iba_tf.py"))
    broken = [address for address in cluster.wait_for_workers(2) if address != old]
    line = _one_line_error(run_command(explain_command(model, images, out, cluster.address)))
    assert "the Dask worker {} cannot import iba_tf (ModuleNotFoundError".format(broken[0]) in line
    assert "install iba-tf on every worker machine, the same as here: iba_tf {}".format(
        mine["iba_tf"]) in line
    assert not os.path.exists(out)
