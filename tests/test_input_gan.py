"""InputIBA's GAN stage (``prior="gan"``, iba_tf.tensorflow_v1.input_gan; docs/input_iba.md)."""
import keras.backend as K
import numpy as np
import pytest

from iba_tf.errors import InputError
from iba_tf.tensorflow_v1.compat import tf
from iba_tf.tensorflow_v1.input_gan import MASK_FLOOR, channel_statistics
from iba_tf.tensorflow_v1.input_iba import InputIBA, prior_masks
from iba_tf.tensorflow_v1.input_prior import GAN_DEFAULTS
from test_input_iba import FAST, REGION, cnn, data, region_model, seeded_analyzer

GAN_FAST = dict(iterations=10, critic_steps=2, batch_size=8)


@pytest.fixture
def fitted():
    model = cnn()
    x = data()
    analyzer = InputIBA(model, feature_name="feature", neuron_selection_mode="index",
                        feature_settings=FAST, input_settings=FAST, gan_settings=GAN_FAST)
    analyzer.fit(x)
    return model, analyzer, x


def _stage2(analyzer, x, **gan):
    """Stage 1 on ``x``, then the GAN masks with ``gan`` over the defaults."""
    defaults = analyzer.get_default()
    feature_maps = analyzer.feature_maps(x, np.array([0, 1, 2])[:len(x)], defaults["feature"])[0]
    return feature_maps, analyzer.gan_masks(x, feature_maps, dict(defaults["gan"], **gan))


def test_the_mask_starts_at_the_stage1_prior_and_training_moves_it(fitted):
    model, analyzer, x = fitted
    def start_of(feature_maps):
        return np.clip(prior_masks(feature_maps, 1, 1.)[..., 0], MASK_FLOOR, 1 - MASK_FLOOR)
    feature_maps, start = _stage2(analyzer, x[:2], iterations=0)
    assert start.shape == (2, 16, 16)
    np.testing.assert_allclose(start, start_of(feature_maps), atol=1e-5)
    # a zero mask learning rate trains the critic and the noise, but leaves the mask
    feature_maps, frozen = _stage2(analyzer, x[:2], mask_learning_rate=0)
    np.testing.assert_allclose(frozen, start_of(feature_maps), atol=1e-5)
    feature_maps, trained = _stage2(analyzer, x[:2], iterations=20)
    expected = start_of(feature_maps)
    assert trained.shape == (2, 16, 16) and np.isfinite(trained).all()
    assert trained.min() >= 0 and trained.max() <= 1
    # a real change (seen: 0.12-0.13 per pixel on average, against < 1e-5 without training)
    assert np.abs(trained - expected).mean() > 0.05, np.abs(trained - expected).mean()


def test_prior_gan_gives_finite_bits_per_pixel_and_is_saved(fitted, tmp_path):
    model, analyzer, x = fitted
    maps = analyzer.analyze(x[:3], neuron_selection=[0, 1, 2], prior="gan")
    assert maps.shape == (3, 16, 16) and np.isfinite(maps).all() and maps.min() >= 0
    plain = analyzer.analyze(x[:3], neuron_selection=[0, 1, 2])
    assert np.abs(maps - plain).max() > 1e-3        # another prior, another map
    analyzer.set_default(prior="gan", gan_settings=dict(iterations=3))
    assert analyzer.get_default()["prior"] == "gan"
    assert analyzer.get_default()["gan"] == dict(GAN_DEFAULTS, **dict(GAN_FAST, iterations=3))
    path = str(tmp_path / "gan.npz")
    analyzer.save_npz(path)
    K.clear_session()
    loaded = InputIBA.load_npz(path)
    assert loaded.get_default() == analyzer.get_default()


def test_channel_statistics_pool_the_pixels():
    mean = np.array([[[0., 10.], [2., 10.]]])       # (1, 2, 2): two pixels, two channels
    std = np.array([[[1., 0.], [1., 0.]]])
    channel_mean, channel_std = channel_statistics(mean, std)
    np.testing.assert_allclose(channel_mean, [1., 10.])
    np.testing.assert_allclose(channel_std, [np.sqrt(2.), 1e-6], rtol=1e-6)


def _seeded(seed, weights=None):
    analyzer, model, x = seeded_analyzer(seed, weights, neuron_selection_mode="index",
                                         gan_settings=GAN_FAST)
    masks = _stage2(analyzer, x[:2])[1]
    maps = analyzer.analyze(x[:2], neuron_selection=[0, 1], prior="gan")
    return masks, maps, model.get_weights()


def test_identical_masks_and_maps_for_identical_seeds():
    masks, maps, weights = _seeded(5)
    masks_again, maps_again, _ = _seeded(5, weights)
    other_masks, _, _ = _seeded(6, weights)
    # the same draws; only the order of multi-threaded float sums may differ
    np.testing.assert_allclose(masks, masks_again, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(maps, maps_again, rtol=1e-3, atol=1e-4)
    assert np.abs(masks - other_masks).max() > 10 * max(
        np.abs(masks - masks_again).max(), 1e-4)


@pytest.mark.parametrize("settings, message", [
    (dict(iterations=-1), "gan_settings: iterations=-1 is invalid: it must be an int >= 0"),
    (dict(critic_steps=0), "gan_settings: critic_steps=0 is invalid: it must be an int >= 1"),
    (dict(batch_size=2.5), r"gan_settings: batch_size=2.5 is invalid: it must be an int >= 1"),
    (dict(clip=0), "gan_settings: clip=0 is invalid: it must be a finite number > 0"),
    (dict(learning_rate=float("nan")), "gan_settings: learning_rate=nan is invalid"),
    (dict(iters=3), "gan_settings: unknown setting 'iters'; the GAN stage takes iterations"),
    ([3], r"gan_settings=\[3\] is invalid: it must be a dict"),
])
def test_bad_gan_settings_name_the_value_and_the_fix(fitted, settings, message):
    model, analyzer, x = fitted
    with pytest.raises(InputError, match=message):
        analyzer.analyze(x[:1], neuron_selection=0, prior="gan", gan_settings=settings)
    with pytest.raises(InputError, match=message):
        InputIBA(model, feature_name="feature", gan_settings=settings)


def test_an_unknown_prior_is_refused(fitted):
    model, analyzer, x = fitted
    with pytest.raises(InputError, match=r"prior='gans' is invalid: it must be one of "
                                         r"'feature', 'gan'"):
        analyzer.analyze(x[:1], neuron_selection=0, prior="gans")
    with pytest.raises(InputError, match="prior=None|prior=3 is invalid"):
        InputIBA(model, feature_name="feature", prior=3)


def test_the_gan_and_input_map_finds_a_region_smaller_than_one_feature_pixel():
    model = region_model()
    x = data(60)
    analyzer = InputIBA(model, feature_name="feature", input_settings=dict(beta=1,
                                                                           smooth_std=0),
                        prior="gan", gan_settings=GAN_FAST)
    analyzer.fit(x)
    input_map = analyzer.analyze(x[:1])[0]
    inside = input_map[REGION].mean()
    block = input_map[4:8, 8:12].copy()
    block[1:3, 1:3] = np.nan                # the rest of the feature pixel around the region
    elsewhere = np.delete(input_map.ravel(), np.ravel_multi_index(
        np.mgrid[4:8, 8:12].reshape(2, -1), (16, 16))).mean()
    assert inside > 5 * np.nanmean(block) and inside > 20 * elsewhere, (
        inside, np.nanmean(block), elsewhere)
    # most of the map's bits lie in the 4 pixels of the region (1.6% of the image)
    assert input_map[REGION].sum() > 0.5 * input_map.sum(), (
        input_map[REGION].sum(), input_map.sum())


def test_last_restriction_is_the_last_analysis_mask_and_statistics(fitted):
    model, analyzer, x = fitted
    copy = analyzer.feature_copy
    fresh = InputIBA(model, feature_name="feature", feature_settings=FAST)
    with pytest.raises(RuntimeError, match="call analyze"):
        fresh.feature_copy.last_restriction()
    analyzer.feature_maps(x[:3], np.array([0, 1, 2]), analyzer.get_default()["feature"])
    restriction = copy.last_restriction()
    assert restriction["lambda"].shape == (3, 4, 4, 4)
    assert 0 <= restriction["lambda"].min() and restriction["lambda"].max() <= 1
    # the optimisation moved the mask away from its start, sigmoid(5)
    assert np.abs(restriction["lambda"] - 1 / (1 + np.exp(-5.))).max() > 0.1
    np.testing.assert_allclose(restriction["mean"], copy.estimator.mean(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(restriction["std"], np.maximum(copy.estimator.std(), 0.01),
                               rtol=1e-4, atol=1e-6)
