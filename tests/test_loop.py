"""The in-graph loop (all steps in one session.run) against the step-by-step path."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import small_cnn
from iba_tf import IBACopy, IBALayer
from iba_tf.tensorflow_v1.compat import get_session
from iba_tf.tensorflow_v1.graph import NotLoopable, loop_body_tail


def seeded_cnn(**iba_kwargs):
    """The small CNN, fitted, in a graph with a graph-level seed (so the noise op is seeded).
    """
    tf.compat.v1.set_random_seed(7)
    model = small_cnn(iba_kwargs=iba_kwargs)
    iba = model.get_layer("iba")
    images = np.random.RandomState(0).rand(20, 32, 32, 3).astype("float32")
    target = iba.set_classification_loss(model.output)
    iba.fit({model.input: images})
    return model, iba, target, images


def analyze_both_ways(analyze, iba):
    """Runs ``analyze`` through the loop, then step by step; returns both (capacity, report).

    Both noise ops carry the same seeds and each starts its own stream, so with a graph seed
    the two paths draw the same noise.
    """
    results = []
    for in_graph_loop in (True, False):
        iba.in_graph_loop = in_graph_loop
        capacity = analyze()
        results.append((capacity, iba._report))
    assert iba.loop_fallback is None
    return results


def assert_close(loop_value, step_value, share=1., what=""):
    """Equal up to float rounding in at least ``share`` of the elements, and in total.

    The two paths are different graphs, so their sums round differently; where a neuron's
    gradient is ~0, Adam's normalised step turns such a difference into a full step, and later
    steps carry it on (seen: up to 26 of 2048 neurons of a map after 10 steps, 3% of a
    gradient after 3 steps). So
    the first evaluation must agree everywhere, later ones in all but a few neurons.
    """
    loop_value, step_value = np.asarray(loop_value), np.asarray(step_value)
    close = np.isclose(loop_value, step_value, rtol=2e-3, atol=1e-4)
    assert close.mean() >= share, "{}: {} of {} elements differ".format(
        what, (~close).sum(), close.size)
    np.testing.assert_allclose(loop_value.sum(), step_value.sum(), rtol=1e-2, atol=1e-4,
                               err_msg=what)


def assert_same_results(loop, stepwise):
    (loop_capacity, loop_report), (step_capacity, step_report) = loop, stepwise
    assert_close(loop_capacity, step_capacity, 0.95, "capacity")
    assert list(loop_report) == list(step_report)
    for key in step_report:
        assert set(loop_report[key]) == set(step_report[key])
        for name, value in step_report[key].items():
            assert_close(loop_report[key][name], value, 1. if key in ("init", 0) else 0.95,
                         "{} at {}".format(name, key))


def test_loop_and_step_by_step_give_the_same_result_on_a_fixed_seed():
    model, iba, target, images = seeded_cnn()
    iba.collect_all()
    feed = {model.input: images[:2], target: [0, 3]}
    loop, stepwise = analyze_both_ways(lambda: iba.analyze(feed, steps=4), iba)
    assert list(loop[1]) == ["init", 0, 1, 2, 3, "final"]
    assert loop[1][2]["alpha"].shape == (2, 16, 16, 8)
    assert_same_results(loop, stepwise)
    # the optimisation did move alpha, so the comparison covers the Adam steps
    assert np.abs(loop[1]["final"]["alpha"] - 5.).max() > 1.


def test_loop_without_report_matches_and_steps_zero_is_the_initial_alpha():
    model, iba, target, images = seeded_cnn()
    feed = {model.input: images[:1], target: 2}
    loop, stepwise = analyze_both_ways(lambda: iba.analyze(feed, beta=3), iba)
    assert loop[1] is None and stepwise[1] is None
    assert_close(loop[0], stepwise[0], 0.95, "capacity")
    iba.in_graph_loop = True
    zero_steps = iba.analyze(feed, steps=0)
    iba.in_graph_loop = False
    np.testing.assert_allclose(zero_steps, iba.analyze(feed, steps=0), rtol=1e-6)


def test_loop_matches_through_ibacopy():
    tf.compat.v1.set_random_seed(3)
    model = keras.Sequential([
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", input_shape=(16, 16, 3)),
        keras.layers.Conv2D(8, 3, padding="same", strides=2, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(4)])
    images = np.random.RandomState(1).rand(10, 16, 16, 3).astype("float32")
    iba = IBACopy(model.layers[0].output, model.output)
    iba.fit({model.input: images})
    target = iba.set_classification_loss()
    iba.collect("loss", "model_loss", "alpha")
    loop, stepwise = analyze_both_ways(
        lambda: iba.analyze({model.input: images[:1]}, {target: 1}, steps=3), iba)
    assert_same_results(loop, stepwise)


@pytest.mark.parametrize("in_graph_loop", [True, False])
def test_every_step_draws_fresh_noise_on_both_paths(fitted_cnn, in_graph_loop):
    model, iba, target, images = fitted_cnn
    iba.in_graph_loop = in_graph_loop
    iba.collect("model_loss")
    # One noise sample per step, scaled up by min_std: at the defaults the loss moves by ~1e-4
    # between steps, close enough to float32's resolution that two steps sometimes tie.
    iba.analyze({model.input: images[:1], target: 0}, steps=4, learning_rate=0, beta=0,
                batch_size=1, min_std=10.)
    report = iba.get_report()
    losses = [float(report[step]["model_loss"][0]) for step in ["init", 0, 1, 2, 3, "final"]]
    assert len(set(losses)) == 6
    assert iba.loop_fallback is None


def test_restrict_flow_replays_the_alpha_of_the_loop(fitted_cnn):
    model, iba, target, images = fitted_cnn
    iba.collect("alpha")
    iba.analyze({model.input: images[:1], target: 0}, steps=3)
    session = get_session()
    np.testing.assert_allclose(session.run(iba._bottleneck.alpha),
                               iba.get_report()["final"]["alpha"])
    with iba.restrict_flow():
        noisy = model.predict(images[:1])
    assert not np.allclose(noisy, model.predict(images[:1]))


def learning_phase_cnn():
    """IBALayer before Dropout and BatchNormalization: a tf.cond on the learning phase each
    (TensorFlow 1: Switch/Merge ops; Keras 2.14: functional If ops), fitted, seeded."""
    tf.compat.v1.set_random_seed(11)
    model = keras.Sequential([
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", input_shape=(16, 16, 3)),
        IBALayer(name="iba"),
        keras.layers.Dropout(0.5),
        keras.layers.Conv2D(8, 3, padding="same"),
        keras.layers.BatchNormalization(),
        keras.layers.Flatten(),
        keras.layers.Dense(4)])
    # moved batch-norm statistics, so that the inference branch differs from the training one
    bn = model.layers[4]
    bn.set_weights([w + 0.3 * (i + 1) for i, w in enumerate(bn.get_weights())])
    iba = model.get_layer("iba")
    images = np.random.RandomState(0).rand(10, 16, 16, 3).astype("float32")
    target = iba.set_classification_loss(model.output)
    iba.fit({model.input: images})
    return model, iba, target, images


def test_a_tail_with_dropout_and_batch_norm_runs_in_the_loop_with_the_same_result():
    """The learning-phase conditionals are folded to their inference branch."""
    model, iba, target, images = learning_phase_cnn()
    iba.collect("loss", "model_loss", "alpha")
    feed = {model.input: images[:2], target: [1, 2]}
    loop, stepwise = analyze_both_ways(lambda: iba.analyze(feed, steps=3), iba)
    assert_same_results(loop, stepwise)
    assert np.abs(loop[1]["final"]["alpha"] - 5.).max() > 1.


def test_feeding_the_learning_phase_1_runs_step_by_step(monkeypatch):
    """The fold assumed the learning phase's default (0); a run in training mode must not
    use the folded loop."""
    from iba_tf.tensorflow_v1.loop import OptimizationLoop
    model, iba, target, images = learning_phase_cnn()
    calls = []
    original = OptimizationLoop.run
    monkeypatch.setattr(OptimizationLoop, "run",
                        lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    feed = {model.input: images[:1], target: 1}
    iba.analyze(feed, steps=2)
    assert calls == [1] and iba.loop_fallback is None
    iba.collect("model_loss")
    training_feed = dict(feed)
    training_feed[keras.backend.learning_phase()] = 1
    iba.analyze(training_feed, steps=2, beta=0, learning_rate=0)
    training = iba.get_report()["init"]["model_loss"]
    assert len(calls) == 1, "the folded loop ran in training mode"
    iba.analyze(feed, steps=2, beta=0, learning_rate=0)
    assert len(calls) == 2
    # the training branch did run: batch statistics instead of the moved moving ones
    assert abs(float(training[0]) - float(iba.get_report()["init"]["model_loss"][0])) > 1e-3


def test_a_conditional_on_a_fed_placeholder_is_not_folded():
    graph = tf.Graph()
    with graph.as_default():
        feature = tf.compat.v1.placeholder(tf.float32, (None, 4))
        fixed = tf.compat.v1.placeholder_with_default(False, ())
        fed = tf.compat.v1.placeholder(tf.bool, ())
        doubled = tf.cond(fixed, lambda: feature * 3., lambda: feature * 2.)
        loss = tf.reduce_sum(tf.cond(fed, lambda: doubled + 1., lambda: doubled - 1.))
        with pytest.raises(NotLoopable, match="control flow"):
            loop_body_tail(feature, loss)
        folded_loss = tf.reduce_sum(doubled)
        graph_def, external, assumed = loop_body_tail(feature, folded_loss)
        assert assumed == {fixed: False}
        source = tf.compat.v1.placeholder(tf.float32, (None, 4))
        out, = tf.import_graph_def(graph_def, input_map=dict(external, **{feature.name: source}),
                                   return_elements=[folded_loss.name], name="body")
        imported = [op for op in graph.get_operations() if op.name.startswith("body/")]
        assert not {"Switch", "Merge", "If", "StatelessIf"} & {op.type for op in imported}
        with tf.compat.v1.Session() as session:
            assert session.run(out, {source: np.ones((2, 4))}) == 16.
