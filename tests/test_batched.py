"""One analyze of N samples equals N single analyses: in shape, exactly where deterministic,
and in distribution where the noise differs."""
import numpy as np
from scipy.stats import spearmanr


def test_batched_equals_single_without_noise_dependence(fitted_cnn):
    model, iba, target, images = fitted_cnn
    targets = np.array([0, 3, 1, 4])
    batched = iba.analyze({model.input: images[:4], target: targets}, steps=0)
    for i in range(4):
        single = iba.analyze({model.input: images[i:i + 1], target: targets[i]}, steps=0)
        np.testing.assert_allclose(batched[i], single, rtol=1e-5, atol=1e-6)


def test_batched_matches_single_in_distribution(fitted_cnn):
    model, iba, target, images = fitted_cnn
    targets = model.predict(images[:4]).argmax(1)
    batched = iba.analyze({model.input: images[:4], target: targets}, steps=20)
    active = iba.estimator.active_neurons()
    for i in range(4):
        single = iba.analyze({model.input: images[i:i + 1], target: targets[i]}, steps=20)
        again = iba.analyze({model.input: images[i:i + 1], target: targets[i]}, steps=20)
        between_runs = spearmanr(single[active], again[active]).correlation
        batched_vs_single = spearmanr(batched[i][active], single[active]).correlation
        # the batch agrees with a single run about as well as two single runs agree
        assert batched_vs_single > between_runs - 0.15, (batched_vs_single, between_runs)
        assert abs(np.log(batched[i].sum() / single.sum())) < np.log(2)


def test_every_hyperparameter_acts_per_sample_in_a_batch(fitted_cnn):
    model, iba, target, images = fitted_cnn
    feed = {model.input: images[:3], target: [0, 1, 2]}
    default = iba.analyze(feed).sum(axis=(1, 2, 3))
    huge_beta = iba.analyze(feed, beta=1e4, steps=20).sum(axis=(1, 2, 3))
    no_beta = iba.analyze(feed, beta=0).sum(axis=(1, 2, 3))
    assert np.all(huge_beta < 0.01 * default) and np.all(no_beta > 100 * default)
    start = iba.analyze(feed, steps=0)
    np.testing.assert_allclose(iba.analyze(feed, learning_rate=0), start, rtol=1e-5)
