"""Concurrent and cross-thread use: one analysis per bottleneck at a time, and calls from a
thread other than the one that built the model run in the model's graph and session."""
import threading

import keras
import numpy as np

from conftest import small_cnn
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
