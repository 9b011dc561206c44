"""InputIBA: the input bottleneck guided by the feature bottleneck (``docs/input_iba.md``)."""
import innvestigate
import keras
import keras.backend as K
import numpy as np
import pytest

import iba_tf
from iba_tf.errors import InputError
from iba_tf.tensorflow_v1.compat import tf
from iba_tf.tensorflow_v1.input_iba import InputIBA, prior_masks

FAST = dict(steps=5, batch_size=4)
# the 2x2 input region the region model reads: inside ONE 4x4 feature pixel (rows 4:8,
# columns 8:12), and smaller than it
REGION = (slice(5, 7), slice(9, 11))


def cnn(classes=3):
    """16x16x2 -> conv -> strided conv (4x4 feature, 'feature') -> logits."""
    return keras.Sequential([
        keras.layers.Conv2D(4, 3, padding="same", activation="relu", input_shape=(16, 16, 2),
                            name="conv1"),
        keras.layers.Conv2D(4, 4, strides=4, activation="relu", name="feature"),
        keras.layers.Flatten(),
        keras.layers.Dense(classes, name="logits"),
    ])


def region_model():
    """A model that reads only the 2x2 ``REGION`` of its input."""
    mask = np.zeros((16, 16, 2), np.float32)
    mask[REGION] = 1.
    inputs = keras.layers.Input((16, 16, 2))
    masked = keras.layers.Lambda(lambda x: x * K.constant(mask), name="region")(inputs)
    feature = keras.layers.Conv2D(4, 4, strides=4, name="feature")(masked)
    logits = keras.layers.Dense(3, name="logits")(keras.layers.Flatten()(feature))
    return keras.models.Model(inputs, logits)


def data(n=40):
    return np.random.randn(n, 16, 16, 2).astype("float32")


@pytest.fixture
def fitted():
    model = cnn()
    x = data()
    analyzer = InputIBA(model, feature_name="feature", neuron_selection_mode="index",
                        feature_settings=FAST, input_settings=FAST)
    analyzer.fit(x)
    return model, analyzer, x


def test_maps_at_input_resolution_and_the_beta_sanity_properties(fitted):
    model, analyzer, x = fitted
    before = model.predict(x[:3])
    kept = analyzer.analyze(x[:3], neuron_selection=1, input_settings=dict(beta=0))
    assert kept.shape == (3, 16, 16) and np.isfinite(kept).all()
    # beta = 0: nothing pushes information out; every pixel keeps over a bit
    assert kept.min() > 1., kept.min()
    removed = analyzer.analyze(x[:3], neuron_selection=1,
                               input_settings=dict(beta=1e4, steps=20))
    assert removed.min() >= 0 and removed.sum() < 0.01 * kept.sum()
    # the user's model is not edited
    np.testing.assert_array_equal(model.predict(x[:3]), before)


def test_a_region_smaller_than_one_feature_pixel_is_found():
    model = region_model()
    x = data(60)
    # no blur of the input mask: a 1 px blur already spreads (and, for a 2x2 region, dilutes)
    # the mask over the neighbours (see docs/input_iba.md)
    analyzer = InputIBA(model, feature_name="feature", input_settings=dict(beta=1,
                                                                           smooth_std=0))
    analyzer.fit(x)
    input_map = analyzer.analyze(x[:1])[0]
    inside = input_map[REGION].mean()
    block = input_map[4:8, 8:12].copy()
    block[1:3, 1:3] = np.nan                # the rest of the feature pixel around the region
    rest_of_pixel = np.nanmean(block)
    elsewhere = np.delete(input_map.ravel(), np.ravel_multi_index(
        np.mgrid[4:8, 8:12].reshape(2, -1), (16, 16))).mean()
    assert inside > 5 * rest_of_pixel and inside > 20 * elsewhere, (
        inside, rest_of_pixel, elsewhere)
    # the feature bottleneck's map alone cannot tell the region from its feature pixel
    feature_map = analyzer.feature_maps(x[:1], None, analyzer.get_default()["feature"])[0][0]
    assert feature_map[REGION].mean() < 2 * np.nanmean(np.where(
        np.isnan(block), np.nan, feature_map[4:8, 8:12]))


def seeded_analyzer(seed, weights=None, **kwargs):
    """(analyzer, model, x): a fitted InputIBA of the test CNN in a graph seeded with
    ``seed`` (the CNN's ``weights`` if given; ``kwargs`` for InputIBA)."""
    K.clear_session()
    tf.set_random_seed(seed)
    model = cnn()
    if weights is not None:
        model.set_weights(weights)
    x = np.random.RandomState(0).randn(20, 16, 16, 2).astype("float32")
    analyzer = InputIBA(model, feature_name="feature", feature_settings=FAST,
                        input_settings=FAST, **kwargs)
    analyzer.fit(x)
    return analyzer, model, x


def _seeded_maps(seed, weights=None):
    analyzer, model, x = seeded_analyzer(seed, weights)
    return analyzer.analyze(x[:2]), model.get_weights()


def test_identical_results_for_identical_seeds():
    first, weights = _seeded_maps(3)
    again, _ = _seeded_maps(3, weights)
    other, _ = _seeded_maps(4, weights)
    # the same noise; only the order of multi-threaded float sums may differ (seen: 1e-4)
    np.testing.assert_allclose(first, again, rtol=1e-3, atol=1e-4)
    # another seed draws other noise: a difference far above that float noise
    assert np.abs(first - other).max() > 10 * max(np.abs(first - again).max(), 1e-4)


def test_settings_override_per_call_and_as_defaults(fitted):
    model, analyzer, x = fitted
    analyzer.set_default(input_settings=dict(beta=3), prior_scale=0.5)
    defaults = analyzer.get_default()
    assert defaults["input"]["beta"] == 3 and defaults["input"]["steps"] == 5
    assert defaults["feature"]["beta"] == 10 and defaults["prior_scale"] == 0.5
    # learning_rate=0 leaves the input mask where it starts: the same map for any beta
    frozen = [analyzer.analyze(x[:1], neuron_selection=0, input_settings=dict(
        learning_rate=0, beta=beta), prior_scale=0) for beta in (0, 100)]
    np.testing.assert_allclose(frozen[0], frozen[1], rtol=1e-5)


def test_prior_masks_scale_each_map_to_its_peak():
    maps = np.stack([np.arange(6.).reshape(2, 3), np.zeros((2, 3))])
    masks = prior_masks(maps, 2, 0.9)
    assert masks.shape == (2, 2, 3, 2) and masks.dtype == np.float32
    np.testing.assert_allclose(masks[0, ..., 1], 0.9 * maps[0] / 5, rtol=1e-6)
    assert not masks[1].any()


def test_prior_capacity_spans_the_plain_capacity_and_zero():
    from iba_tf.tensorflow_v1 import ops
    alpha = np.linspace(-6, 6, 13).astype("float32")
    r = np.linspace(-2, 2, 13).astype("float32")
    lam, one_minus = tf.sigmoid(alpha), tf.sigmoid(-alpha)
    plain = ops.capacity(lam, one_minus, r)
    with tf.Session() as session:
        values = session.run([plain] + [ops.prior_capacity(lam, one_minus, r, p)
                                        for p in (0., 0.5, 1.)])
    np.testing.assert_allclose(values[1], values[0], rtol=1e-5, atol=1e-6)
    assert np.all(values[2] < values[0] + 1e-6) and np.all(values[2] > -1e-6)
    np.testing.assert_allclose(values[3], 0, atol=1e-5)


def test_registry_and_output_input():
    model = cnn()
    x = data(20)
    analyzer = innvestigate.create_analyzer("iba_input", model, neuron_selection_mode="index",
                                            feature_name="feature", output="input",
                                            feature_settings=FAST, input_settings=FAST)
    assert isinstance(analyzer, iba_tf.InputIBA)
    analyzer.fit(x, verbose=1, disable_no_training_warning=True)
    maps, logits = analyzer.analyze(x[:2], neuron_selection=[0, 2], return_predictions=True)
    assert maps.shape == (2, 16, 16, 2)
    np.testing.assert_allclose(logits, model.predict(x[:2]), rtol=1e-4, atol=1e-5)


def test_bad_input_is_refused_with_the_fix(fitted):
    model, analyzer, x = fitted
    with pytest.raises(InputError, match=r"X has shape \(2, 16, 16\)"):
        analyzer.analyze(x[:2, ..., 0], neuron_selection=0)
    with pytest.raises(InputError, match="non-finite"):
        analyzer.analyze(np.full_like(x[:1], np.nan), neuron_selection=0)
    with pytest.raises(InputError, match="input_settings: beta=-1 is invalid"):
        analyzer.analyze(x[:1], neuron_selection=0, input_settings=dict(beta=-1))
    with pytest.raises(InputError, match="feature_settings: Unknown IBA hyperparameter 'betta'"):
        analyzer.analyze(x[:1], neuron_selection=0, feature_settings=dict(betta=1))
    with pytest.raises(InputError, match=r"prior_scale=2 is invalid.*\[0, 1\]"):
        analyzer.analyze(x[:1], neuron_selection=0, prior_scale=2)
    with pytest.raises(InputError, match="needs neuron_selection"):
        analyzer.analyze(x[:1])
    with pytest.raises(InputError, match="neuron_selection 7 of sample 1 is out of range"):
        analyzer.analyze(x[:2], neuron_selection=[0, 7])


def test_bad_models_and_missing_statistics():
    model = cnn()
    hidden = keras.Sequential(model.layers[:-1] + [keras.layers.Dense(6, name="hidden"),
                                                   keras.layers.Dense(3)])
    with pytest.raises(InputError, match="feature map with the input's 2 spatial axes"):
        InputIBA(hidden, feature_name="hidden")
    dense = keras.Sequential([keras.layers.Dense(3, input_shape=(5,))])
    with pytest.raises(InputError, match="one input of known shape"):
        InputIBA(dense)
    with pytest.raises(ValueError, match="model_wo_softmax"):
        InputIBA(keras.Sequential(model.layers + [keras.layers.Activation("softmax")]))
    with pytest.raises(InputError, match="only used with neuron_selection_mode='index'"):
        InputIBA(model, feature_name="feature").analyze(data(1), neuron_selection=1)
    with pytest.raises(RuntimeError, match="call fit"):
        InputIBA(model, feature_name="feature").analyze(data(1))


def test_save_npz_round_trip_into_a_fresh_graph(fitted, tmp_path):
    model, analyzer, x = fitted
    analyzer.set_default(input_settings=dict(beta=3), prior_scale=0.5)
    path = str(tmp_path / "input_iba.npz")
    analyzer.save_npz(path)
    means = [analyzer.feature_copy.estimator.mean(), analyzer.input_copy.estimator.mean()]
    logits = model.predict(x[:2])
    K.clear_session()
    loaded = InputIBA.load_npz(path)
    assert loaded.get_default() == analyzer.get_default()
    np.testing.assert_array_equal(loaded.feature_copy.estimator.mean(), means[0])
    np.testing.assert_array_equal(loaded.input_copy.estimator.mean(), means[1])
    maps, predicted = loaded.analyze(x[:2], neuron_selection=1, return_predictions=True)
    assert maps.shape == (2, 16, 16)
    np.testing.assert_allclose(predicted, logits, rtol=1e-4, atol=1e-5)
