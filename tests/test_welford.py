import pickle

import numpy as np
import pytest

from iba_tf import WelfordEstimator


def test_batches_match_numpy_on_all_data():
    data = np.random.randn(103, 4, 5) * 3 + 1
    data[:, 0, 0] = 0                        # a neuron that never fires
    data[:1, 1, 1] = 0
    estimator = WelfordEstimator()
    for start in range(0, 103, 17):          # uneven batches, the last one short
        estimator.fit(data[start:start + 17])
    assert estimator.n_samples() == 103
    np.testing.assert_allclose(estimator.mean(), data.mean(0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(estimator.std(), data.std(0, ddof=1), rtol=1e-10)
    active = estimator.active_neurons()
    assert not active[0, 0] and active[1, 1] and active.sum() == 19


def test_active_threshold_is_a_strict_share():
    data = np.zeros((100, 3))
    data[:5, 0] = 1      # 5% non-zero
    data[:1, 1] = 1      # 1% non-zero: not above the default threshold
    estimator = WelfordEstimator().fit(data)
    np.testing.assert_array_equal(estimator.active_neurons(), [True, False, False])
    np.testing.assert_array_equal(estimator.active_neurons(0.05), [False, False, False])


def test_stable_for_large_means():
    rng = np.random.RandomState(1)
    data = 1e9 + rng.randn(2000, 3)
    estimator = WelfordEstimator()
    for batch in np.split(data, 40):
        estimator.fit(batch)
    np.testing.assert_allclose(estimator.std(), (data - 1e9).std(0, ddof=1), rtol=1e-5)


def test_single_batch_of_one_sample_and_reset():
    estimator = WelfordEstimator().fit(np.ones((1, 2)))
    np.testing.assert_array_equal(estimator.mean(), [1, 1])
    with pytest.raises(RuntimeError, match="at least 2 sample"):
        estimator.std()
    estimator.reset()
    assert estimator.n_samples() == 0 and estimator.shape is None
    with pytest.raises(RuntimeError, match="fit"):
        estimator.mean()


def test_state_dict_round_trip_through_pickle_is_exact():
    estimator = WelfordEstimator().fit(np.random.randn(30, 3, 2)).fit(np.random.randn(7, 3, 2))
    restored = WelfordEstimator().load_state_dict(pickle.loads(pickle.dumps(
        estimator.state_dict())))
    assert restored.n_samples() == 37
    np.testing.assert_array_equal(restored.mean(), estimator.mean())
    np.testing.assert_array_equal(restored.std(), estimator.std())
    np.testing.assert_array_equal(restored.active_neurons(), estimator.active_neurons())
    # the copy goes on like the original
    batch = np.random.randn(5, 3, 2)
    np.testing.assert_array_equal(restored.fit(batch).std(), estimator.fit(batch).std())


def test_bad_input_is_named():
    estimator = WelfordEstimator().fit(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"shape \(4,\).*\(3,\)"):
        estimator.fit(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="at least one sample"):
        WelfordEstimator().fit(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="keys"):
        WelfordEstimator().load_state_dict({"mean": 1})
    state = estimator.state_dict()
    state["m2"] = np.zeros(5)
    with pytest.raises(ValueError, match="disagree in shape"):
        WelfordEstimator().load_state_dict(state)
