"""IBALayer: shapes, the method's sanity properties, identity, hyperparameters, round trips."""
import pickle

import keras
import numpy as np
import pytest
import tensorflow.compat.v1 as tf  # the TensorFlow 1 API on both stacks

from conftest import small_cnn
from iba_tf import IBALayer, to_saliency_map
from iba_tf.tensorflow_v1.compat import get_session


def test_analyze_returns_feature_shaped_capacity(fitted_cnn):
    model, iba, target, images = fitted_cnn
    capacity = iba.analyze({model.input: images[:1], target: 2})
    assert capacity.shape == (16, 16, 8)
    assert np.all(np.isfinite(capacity)) and np.all(capacity >= 0)
    assert to_saliency_map(capacity, (32, 32)).shape == (32, 32)


def test_layer_is_the_identity_outside_analyze(fitted_cnn):
    model, iba, target, images = fitted_cnn
    before = model.predict(images)
    for _ in range(3):
        iba.analyze({model.input: images[:1], target: 1})
    with iba.restrict_flow():
        restricted = model.predict(images[:1])
    assert np.abs(restricted - before[:1]).max() > 1e-4   # the noise reaches the logits
    after = model.predict(images)
    np.testing.assert_array_equal(after, before)
    # and equal to the same model without the bottleneck
    plain = keras.Sequential([layer for layer in model.layers if layer.name != "iba"])
    np.testing.assert_allclose(plain.predict(images), before, rtol=1e-6, atol=1e-6)


def test_restrict_flow_is_restored_when_the_body_raises(fitted_cnn):
    model, iba, target, images = fitted_cnn
    before = model.predict(images[:1])
    iba.analyze({model.input: images[:1], target: 1})
    with pytest.raises(KeyError):
        with iba.restrict_flow():
            raise KeyError("user code failed")
    np.testing.assert_array_equal(model.predict(images[:1]), before)


def test_restrict_flow_needs_an_analysis_first(fitted_cnn):
    _, iba, _, _ = fitted_cnn
    with pytest.raises(RuntimeError, match="analyze"):
        with iba.restrict_flow():
            pass


def test_huge_beta_removes_information_and_zero_beta_keeps_it(fitted_cnn):
    model, iba, target, images = fitted_cnn
    feed = {model.input: images[:1], target: 0}
    default = iba.analyze(feed).sum()
    huge = iba.analyze(feed, beta=1e4, steps=20).sum()
    keep = iba.analyze(feed, beta=0).sum()
    start = iba.analyze(feed, steps=0).sum()
    assert huge < 0.01 * default
    assert keep > 100 * default
    # Without blur, beta=0 keeps (at least) the information of the start, lambda ~ 0.993.
    # (Adam's normalised steps random-walk the alphas that do not matter for the loss; the
    # blur then averages in neighbours that drifted down, so the blurred total is lower.)
    assert iba.analyze(feed, beta=0, smooth_std=0).sum() > 0.8 * start


def test_steps_zero_gives_the_capacity_formula_at_the_initial_alpha():
    """With steps=0 the capacity is the closed-form KL at lambda = sigmoid(5) everywhere."""
    model = small_cnn()
    iba = model.get_layer("iba")
    mean = np.random.rand(16, 16, 8).astype("float32")
    std = np.random.rand(16, 16, 8).astype("float32")
    std[0, 0, 0] = 1e-5                                   # below min_std
    iba._statistics.feature_mean, iba._statistics.feature_std = mean, std
    target = iba.set_classification_loss(model.output)
    image = np.random.rand(1, 32, 32, 3).astype("float32")
    capacity = iba.analyze({model.input: image, target: 0}, steps=0, min_std=0.05)
    feature = get_session().run(iba._feature_tensor(), {model.input: image})[0]
    lam = 1 / (1 + np.exp(-5.))
    r = (feature - mean) / np.maximum(std, 0.05)
    expected = -0.5 * (1 + np.log((1 - lam) ** 2) - (lam * r) ** 2 - (1 - lam) ** 2)
    np.testing.assert_allclose(capacity, expected, rtol=1e-4, atol=1e-4)
    # learning_rate=0 leaves alpha where it started, too
    np.testing.assert_allclose(iba.analyze({model.input: image, target: 0}, learning_rate=0,
                                           min_std=0.05), expected, rtol=1e-4, atol=1e-4)


def _partial_model(smooth_std=1.):
    """The bottleneck sits on the input; the tail reads only its top-left 4x4 corner."""
    inputs = keras.layers.Input((8, 8, 4))
    iba = IBALayer(name="iba", smooth_std=smooth_std)
    corner = keras.layers.Lambda(lambda x: x[:, :4, :4, :])(iba(inputs))
    logits = keras.layers.Dense(3)(keras.layers.Flatten()(corner))
    model = keras.models.Model(inputs, logits)
    data = np.random.randn(50, 8, 8, 4).astype("float32")
    target = iba.set_classification_loss(model.output)
    iba.fit({model.input: data})
    label = int(model.predict(data[:1]).argmax())
    return model, iba, target, data, label


def test_capacity_concentrates_where_the_output_depends_on_the_feature():
    model, iba, target, data, label = _partial_model()
    capacity = iba.analyze({model.input: data[:1], target: label}, smooth_std=0, beta=1,
                           steps=30).sum(-1)
    inside = capacity[:4, :4].mean()
    outside = np.concatenate([capacity[4:].ravel(), capacity[:4, 4:].ravel()]).mean()
    assert outside < 0.05 * inside, (inside, outside)
    assert outside < 0.05


def test_smoothing_spreads_lambda_and_zero_disables_it():
    model, iba, target, data, label = _partial_model()
    iba.collect("lambda")
    feed = {model.input: data[:1], target: label}
    iba.analyze(feed, smooth_std=0, beta=1, steps=30)
    sharp = iba.get_report()["final"]["lambda"][0].mean(-1)
    iba.analyze(feed, smooth_std=2, beta=1, steps=30)
    smooth = iba.get_report()["final"]["lambda"][0].mean(-1)
    # next to the read corner, smoothing lets lambda leak out of it; without, it stays ~0
    assert sharp[:4, 5].mean() < 0.05
    assert smooth[:4, 5].mean() > 2 * sharp[:4, 5].mean() + 0.05
    # and the blur flattens the jump between the corner and the rest
    assert np.abs(np.diff(smooth, axis=1)).max() < np.abs(np.diff(sharp, axis=1)).max()


def test_normalize_beta_false_puts_beta_on_the_sum(fitted_cnn):
    model, iba, target, images = fitted_cnn
    feed = {model.input: images[:1], target: 0}
    normalized = iba.analyze(feed, beta=1, steps=20).sum()
    summed = iba.analyze(feed, beta=1, steps=20, normalize_beta=False).sum()
    # beta on the sum is beta * 2048 on the mean: far less information passes
    assert summed < 0.1 * normalized
    iba.set_default(normalize_beta=False, beta=1, steps=20)
    assert iba.analyze(feed).sum() < 0.1 * normalized


def test_batch_size_sets_the_number_of_noise_samples():
    inputs = keras.layers.Input((6,))
    iba = IBALayer(name="iba")
    outputs = keras.layers.Dense(2)(iba(inputs))
    rows = tf.cast(tf.shape(outputs)[0], tf.float32)
    # every row's loss is the number of rows
    iba.set_model_loss(tf.fill(tf.shape(outputs)[:1], rows) + 0. * outputs[:, 0])
    iba.fit({inputs: np.random.randn(20, 6)})
    iba.collect("model_loss")
    for batch_size in (1, 7):
        iba.analyze({inputs: np.random.randn(1, 6)}, batch_size=batch_size, steps=1)
        assert iba.get_report()[0]["model_loss"][0] == batch_size


def test_hyperparameter_defaults_and_overrides():
    iba = IBALayer(beta=3, steps=4)
    assert iba.get_default() == dict(batch_size=10, steps=4, beta=3, learning_rate=1,
                                     min_std=0.01, smooth_std=1., normalize_beta=True)
    iba.set_default(beta=0, smooth_std=0, normalize_beta=False)
    assert iba.get_default()["beta"] == 0 and iba.get_default()["smooth_std"] == 0
    assert iba.get_default()["normalize_beta"] is False and iba.get_default()["steps"] == 4
    for bad in (dict(batch_size=0), dict(beta=-1.), dict(steps=2.5), dict(min_std=0),
                dict(smooth_std="wide"), dict(normalize_beta=2)):
        name, value = next(iter(bad.items()))
        with pytest.raises(ValueError, match="{}={!r}".format(name, value)):
            iba.set_default(**bad)
        with pytest.raises(ValueError, match=name):
            IBALayer(**bad)


def test_sequence_and_dense_features():
    conv1d = keras.Sequential([
        keras.layers.Conv1D(6, 3, padding="same", activation="relu", input_shape=(20, 2)),
        IBALayer(name="iba"), keras.layers.Flatten(), keras.layers.Dense(4)])
    dense = keras.Sequential([
        keras.layers.Dense(12, activation="relu", input_shape=(5,)),
        IBALayer(name="iba2"), keras.layers.Dense(3)])
    for model, data, shape in ((conv1d, np.random.randn(30, 20, 2), (20, 6)),
                               (dense, np.random.randn(30, 5), (12,))):
        iba = model.layers[1]
        target = iba.set_classification_loss(model.output)
        iba.fit({model.input: data})
        before = model.predict(data)
        capacity = iba.analyze({model.input: data[:1], target: 1})
        assert capacity.shape == shape and np.all(np.isfinite(capacity))
        assert iba.analyze({model.input: data[:1], target: 1}, beta=1e4, steps=20).sum() < \
            0.05 * capacity.sum()
        np.testing.assert_array_equal(model.predict(data), before)
    sequence_iba = conv1d.layers[1]
    capacity = sequence_iba.analyze({conv1d.input: np.random.randn(1, 20, 2),
                                     sequence_iba._objective.target: 0})
    assert to_saliency_map(capacity, (20,)).shape == (20,)


def test_several_samples_with_own_targets(fitted_cnn):
    model, iba, target, images = fitted_cnn
    capacity = iba.analyze({model.input: images[:3], target: [0, 1, 2]})
    assert capacity.shape == (3, 16, 16, 8)
    with pytest.raises(ValueError, match="target has 2 entries for 3 samples"):
        iba.analyze({model.input: images[:3], target: [0, 1]})


def test_pass_mask_and_inactive_neurons_carry_no_capacity(fitted_cnn):
    model, iba, target, images = fitted_cnn
    pass_mask = np.zeros((16, 16, 8))
    pass_mask[:8] = 1
    capacity = iba.analyze({model.input: images[:1], target: 0}, pass_mask=pass_mask, beta=0)
    fitted_active = iba.estimator.active_neurons()
    assert np.all(capacity[:8] == 0) and capacity[8:][fitted_active[8:]].min() > 0
    active = np.ones((16, 16, 8))
    active[..., :4] = 0
    iba._statistics.feature_active = active
    capacity = iba.analyze({model.input: images[:1], target: 0}, beta=0)
    assert np.all(capacity[..., :4] == 0) and capacity[..., 4:].min() > 0


def test_no_ops_are_added_per_analyze(fitted_cnn):
    model, iba, target, images = fitted_cnn
    iba.analyze({model.input: images[:2], target: 0})   # the loop for 2 samples x 10 noise
    model.predict(images[:1])                   # Keras builds its predict function once
    graph = tf.get_default_graph()
    n_ops = len(graph.get_operations())
    for beta in (0, 1, 10):
        iba.analyze({model.input: images[:2], target: 0}, beta=beta, smooth_std=beta / 5.)
    with iba.restrict_flow():
        model.predict(images[:2])
    assert len(graph.get_operations()) == n_ops


def test_the_graph_stops_growing_after_a_few_analysis_shapes(fitted_cnn):
    """Each new shape (samples x noise samples) gets a loop of static shapes, up to
    STATIC_LOOPS of them; then one loop serves every shape."""
    from iba_tf.tensorflow_v1.explainer import STATIC_LOOPS
    model, iba, target, images = fitted_cnn
    graph = tf.get_default_graph()
    counts = []
    for n in range(1, STATIC_LOOPS + 4):
        iba.analyze({model.input: images[:n], target: 0}, steps=1)
        counts.append(len(graph.get_operations()))
    growth = np.diff(counts)
    assert (growth[:STATIC_LOOPS] > 0).all() and (growth[STATIC_LOOPS:] == 0).all(), counts
    iba.analyze({model.input: images[:1], target: 0}, steps=1, batch_size=3)
    assert len(graph.get_operations()) == counts[-1]


def test_report_collects_every_step(fitted_cnn):
    model, iba, target, images = fitted_cnn
    assert "capacity" in iba.available_report_variables()
    iba.collect("loss", "alpha")
    iba.analyze({model.input: images[:1], target: 0}, steps=3)
    report = iba.get_report()
    assert list(report) == ["init", 0, 1, 2, "final"]
    assert set(report[1]) == {"loss", "alpha"} and report["init"]["alpha"].max() == 5.
    with pytest.raises(ValueError, match="Unknown report variable"):
        iba.collect("gradients")
    iba.collect_all()
    iba.analyze({model.input: images[:1], target: 0}, steps=1)
    assert set(iba.get_report()[0]) == set(iba.available_report_variables())


def test_every_step_draws_fresh_noise(fitted_cnn):
    """With alpha held still (learning_rate=0), only the noise changes the model loss from
    step to step: each step must draw anew."""
    model, iba, target, images = fitted_cnn
    iba.collect("model_loss")
    iba.analyze({model.input: images[:1], target: 0}, steps=4, learning_rate=0, beta=0)
    report = iba.get_report()
    losses = [float(report[step]["model_loss"][0]) for step in range(4)]
    assert len(set(losses)) == 4


def test_fit_generator_stops_after_n_samples(fitted_cnn):
    model, iba, target, images = fitted_cnn
    iba.estimator.reset()
    iba.fit_generator(({model.input: images[i:i + 8]} for i in range(0, 40, 8)), n_samples=20,
                      progbar=False)
    assert iba.estimator.n_samples() == 24          # whole batches until 20 are reached
    features = get_session().run(iba._feature_tensor(), {model.input: images[:24]})
    np.testing.assert_allclose(iba.estimator.std(), features.std(0, ddof=1), rtol=1e-4,
                               atol=1e-6)


def test_state_dict_round_trip(fitted_cnn, tmp_path):
    model, iba, target, images = fitted_cnn
    iba.set_default(beta=4)
    state = pickle.loads(pickle.dumps(iba.state_dict()))
    keras.backend.clear_session()
    model2 = small_cnn()
    iba2 = model2.get_layer("iba")
    iba2.load_state_dict(state)
    assert iba2.get_default()["beta"] == 4
    np.testing.assert_array_equal(iba2.estimator.std(), iba.estimator.std())
    target2 = iba2.set_classification_loss(model2.output)
    assert iba2.analyze({model2.input: images[:1], target2: 0}).shape == (16, 16, 8)
    # a state of another shape is refused, naming both shapes
    keras.backend.clear_session()
    other = small_cnn(input_shape=(16, 16, 3)).get_layer("iba")
    with pytest.raises(ValueError, match=r"\(16, 16, 8\).*\(8, 8, 8\)"):
        other.load_state_dict(state)


@pytest.mark.parametrize("with_custom_objects", [True, False])
def test_saved_model_loads_back_and_can_be_explained(tmp_path, with_custom_objects):
    import iba_tf
    model = small_cnn(iba_kwargs=dict(beta=3, smooth_std=0.5))
    images = np.random.rand(20, 32, 32, 3).astype("float32")
    before = model.predict(images)
    path = str(tmp_path / "model.h5")
    model.save(path)
    keras.backend.clear_session()
    loaded = keras.models.load_model(
        path, custom_objects=iba_tf.custom_objects() if with_custom_objects else None)
    np.testing.assert_allclose(loaded.predict(images), before, rtol=1e-6)
    iba = loaded.get_layer("iba")
    assert isinstance(iba, IBALayer)
    assert iba.get_default()["beta"] == 3 and iba.get_default()["smooth_std"] == 0.5
    target = iba.set_classification_loss(loaded.output)
    iba.fit({loaded.input: images})
    assert iba.analyze({loaded.input: images[:1], target: 0}).shape == (16, 16, 8)


def test_statistics_are_not_model_weights():
    model = small_cnn()
    assert len(model.get_weights()) == 6
    assert model.get_layer("iba").weights == []


def test_a_bottleneck_inside_a_residual_block():
    """The shortcut around the bottleneck has one row per sample: it is repeated like the
    feature for the noisy copies."""
    inputs = keras.layers.Input((16, 16, 3))
    block_input = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    iba = IBALayer(name="iba")
    branch = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(block_input)
    branch = keras.layers.Conv2D(8, 3, padding="same")(iba(branch))
    merged = keras.layers.Add()([block_input, branch])
    model = keras.models.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(merged)))
    images = np.random.rand(20, 16, 16, 3).astype("float32")
    before = model.predict(images)
    target = iba.set_classification_loss(model.output)
    assert len(iba._objective.bypass) == 1                 # the shortcut, not the target
    iba.fit({model.input: images})
    capacity = iba.analyze({model.input: images[:2], target: [0, 1]})
    assert capacity.shape == (2, 16, 16, 8) and np.all(np.isfinite(capacity))
    assert iba.analyze({model.input: images[:1], target: 0}, beta=1e4, steps=20).sum() < \
        0.01 * capacity[0].sum()
    np.testing.assert_array_equal(model.predict(images), before)


def test_a_bottleneck_on_the_start_of_a_skip_connection_is_refused():
    inputs = keras.layers.Input((8, 8, 3))
    block_input = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    iba = IBALayer(name="iba")
    merged = keras.layers.Add()([block_input, keras.layers.Conv2D(4, 1)(iba(block_input))])
    model = keras.models.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(merged)))
    with pytest.raises(ValueError, match="also read around the layer.*IBACopy"):
        iba.set_classification_loss(model.output)
