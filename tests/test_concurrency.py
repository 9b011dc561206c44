"""Concurrent and cross-thread use: one analysis per bottleneck at a time, and calls from a
thread other than the one that built the model run in the model's graph and session; and one
explain-dataset run per result file (two real processes)."""
import os
import signal
import subprocess
import sys
import threading

import keras
import numpy as np
import pytest

from conftest import save_tiny_cnn, small_cnn
from iba_tf.dataset import DatasetError, explain_dataset, read_results
from iba_tf.dataset.store import DONE
from iba_tf.tensorflow_v1.compat import get_session
from iba_tf import TFWelfordEstimator


def _in_thread(function):
    result = {}

    def run():
        try:
            result["value"] = function()
        except BaseException as error:          # reported in the main thread
            result["error"] = error
    thread = threading.Thread(target=run)
    thread.start()
    thread.join(120)
    if "error" in result:
        raise result["error"]
    return result["value"]


def _fitted_cnn():
    model = small_cnn()
    iba = model.get_layer("iba")
    images = np.random.rand(20, 32, 32, 3).astype("float32")
    target = iba.set_classification_loss(model.output)
    iba.fit({model.input: images})
    return model, iba, target, images


def test_concurrent_analyses_give_what_they_give_one_after_the_other():
    model, iba, target, images = _fitted_cnn()
    iba.in_graph_loop = False       # many session runs per analysis: the threads interleave
    iba.set_default(steps=20)
    session = get_session()
    feed = {model.input: images[:1], target: 1}
    alone = {beta: iba.analyze(feed, beta=beta, session=session).mean() for beta in (0, 1000)}
    assert alone[0] > 10 * alone[1000]
    for _ in range(3):
        results, threads = {}, []
        for beta in (1000, 0):
            def run(beta=beta):
                results[beta] = iba.analyze(feed, beta=beta, session=session).mean()
            threads.append(threading.Thread(target=run))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        # unlocked, the beta=0 map came back all 0 (the threads shared alpha and Adam)
        assert results[0] > 0.5 * alone[0] and results[1000] < 2 * alone[1000] + 1e-3


def test_analyze_and_fit_from_another_thread_use_the_models_session():
    model, iba, target, images = _fitted_cnn()
    n = iba.estimator.n_samples()
    _in_thread(lambda: iba.fit({model.input: images[:4]}))
    assert iba.estimator.n_samples() == n + 4
    capacity = _in_thread(lambda: iba.analyze({model.input: images[:1], target: 0}))
    assert capacity.shape == (16, 16, 8) and np.isfinite(capacity).all()
    # the thread ran in the model's session: its variables, not freshly initialised ones
    session = get_session()
    assert iba._home.session is session


def test_tf_welford_estimator_fits_from_another_thread():
    model = small_cnn()
    images = np.random.rand(8, 32, 32, 3).astype("float32")
    feature = model.layers[1].output
    expected = get_session().run(feature, {model.input: images})
    estimator = TFWelfordEstimator(feature)
    estimator.fit({model.input: images[:2]})                 # resolves the session here
    _in_thread(lambda: estimator.fit({model.input: images[2:]}))
    np.testing.assert_allclose(estimator.mean(), expected.mean(0), rtol=1e-5, atol=1e-6)


def test_restrict_flow_holds_the_bottleneck_against_other_threads():
    model, iba, target, images = _fitted_cnn()
    session = get_session()
    iba.analyze({model.input: images[:1], target: 1}, session=session)
    alpha = session.run(iba._bottleneck.alpha)
    started = threading.Event()
    with iba.restrict_flow():
        thread = threading.Thread(target=lambda: (started.set(), iba.analyze(
            {model.input: images[1:2], target: 2}, session=session)))
        thread.start()
        started.wait(10)
        thread.join(0.5)
        # the other analysis waits for the lock: alpha is still this analysis'
        np.testing.assert_array_equal(session.run(iba._bottleneck.alpha), alpha)
    thread.join(120)
    assert not thread.is_alive()


# ---------------------------------------------------------------- one run per result file
HOLD_LOCK = """
import sys, time
from iba_tf.dataset.lock import OutputLock
OutputLock(sys.argv[1]).__enter__()
print("locked", flush=True)
time.sleep(600)
"""


def _env():
    """The environment of a subprocess that imports this tree's iba_tf."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = [root] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths))


def _dataset(tmp_path):
    model = save_tiny_cnn(str(tmp_path / "tiny.h5"), size=16, classes=3)
    keras.backend.clear_session()
    arrays = str(tmp_path / "arrays.npy")
    np.save(arrays, (np.random.RandomState(0).rand(6, 16, 16, 3) * 255).astype(np.uint8))
    return model, arrays


def test_a_second_explain_dataset_on_the_same_file_is_refused_and_the_first_completes(
        tmp_path):
    model, arrays = _dataset(tmp_path)
    out = str(tmp_path / "run.h5")
    command = [sys.executable, "-u", "-m", "iba_tf.cli", "explain-dataset", model, arrays,
               "--out", out, "--workers", "0", "--steps", "2", "--fit-samples", "4",
               "--no-progress"]
    log = open(str(tmp_path / "first.err"), "wb+")
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=_env())
    try:
        for line in first.stdout:              # printed once the run holds the file
            if line.startswith(b"Explaining"):
                break
        first.send_signal(signal.SIGSTOP)      # the first run stays mid-way meanwhile
        for extra in ([], ["--overwrite"]):
            second = subprocess.run(command + extra, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=_env(), timeout=300)
            lines = second.stderr.decode().strip().splitlines()
            assert second.returncode == 2 and len(lines) == 1, lines
            assert "{} is being written by another run (process {})".format(
                out, first.pid) in lines[0]
        first.send_signal(signal.SIGCONT)
        first.communicate(timeout=300)
    finally:
        first.kill()
        log.seek(0)
        stderr = log.read().decode()
        log.close()
    assert first.returncode == 0, stderr[-2000:]
    results = read_results(out)
    assert (results["status"] == DONE).all() and np.isfinite(results["saliency"]).all()
    assert not os.path.exists(out + ".lock")


def test_the_lock_of_a_killed_run_does_not_block_the_next(tmp_path):
    model, arrays = _dataset(tmp_path)
    out = str(tmp_path / "run.h5")
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, out], stdout=subprocess.PIPE,
                              env=_env())
    try:
        assert holder.stdout.readline().strip() == b"locked"
        with pytest.raises(DatasetError, match=r"being written by another run \(process {}\)"
                           .format(holder.pid)):
            explain_dataset(model, arrays, out, workers=0, overwrite=True, steps=1,
                            fit_samples=4, progress=False, log=None)
        assert not os.path.exists(out)
        holder.send_signal(signal.SIGKILL)     # dies holding the lock: no clean-up at all
        holder.wait(timeout=30)
    finally:
        holder.kill()
    assert os.path.exists(out + ".lock")       # left behind, but no longer locked
    summary = explain_dataset(model, arrays, out, workers=0, steps=1, fit_samples=4,
                              progress=False, log=None)
    assert summary.done == 6 and not os.path.exists(out + ".lock")
