import pickle

import keras
import numpy as np
import pytest

from iba_tf import IBALayer, TFWelfordEstimator


def _model():
    return keras.Sequential([
        keras.layers.Conv2D(4, 3, activation="relu", input_shape=(12, 12, 2), name="conv"),
        keras.layers.Flatten(), keras.layers.Dense(3)])


def test_fit_through_the_session_matches_numpy():
    model = _model()
    data = np.random.randn(30, 12, 12, 2).astype("float32")
    estimator = TFWelfordEstimator(model.get_layer("conv").output.name)
    estimator.fit_generator(({model.input: data[i:i + 7]} for i in range(0, 30, 7)),
                            progbar=False)
    features = keras.backend.function([model.input], [model.get_layer("conv").output])(
        [data])[0]
    assert estimator.n_samples() == 30
    np.testing.assert_allclose(estimator.mean(), features.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(estimator.std(), features.std(0, ddof=1), rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(estimator.active_neurons(),
                                  (features != 0).mean(0) > 0.01)


def test_state_dict_pickles_and_restores_exactly():
    model = _model()
    estimator = TFWelfordEstimator(model.get_layer("conv").output)     # a tensor works too
    estimator.fit({model.input: np.random.randn(10, 12, 12, 2)})
    state = estimator.state_dict()
    assert state is not None and state["n"] == 10
    restored = TFWelfordEstimator(feature_name=None)
    restored.load_state_dict(pickle.loads(pickle.dumps(state)))
    assert restored.feature_name == estimator.feature_name
    assert restored.n_samples() == 10
    for name in ("mean", "std", "active_neurons"):
        np.testing.assert_array_equal(getattr(restored, name)(), getattr(estimator, name)())


def test_a_fitted_estimator_drives_an_iba_layer():
    conv = keras.layers.Conv2D(4, 3, activation="relu", input_shape=(12, 12, 2))
    iba = IBALayer(name="iba")
    model = keras.Sequential([conv, iba, keras.layers.Flatten(), keras.layers.Dense(3)])
    estimator = TFWelfordEstimator(conv.output.name)
    data = np.random.randn(20, 12, 12, 2)
    estimator.fit({model.input: data})
    iba._statistics.estimator = estimator
    target = iba.set_classification_loss(model.output)
    assert iba.analyze({model.input: data[:1], target: 1}).shape == (10, 10, 4)


def test_unknown_tensor_name_is_named():
    _model()
    with pytest.raises(ValueError, match="'conv_typo/Relu:0' is not in the graph"):
        TFWelfordEstimator("conv_typo/Relu:0").fit({})
