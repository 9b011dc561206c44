import keras
import numpy as np
import pytest

from iba_tf import model_wo_softmax


def test_softmax_activation_of_the_last_layer_is_removed():
    model = keras.Sequential([keras.layers.Dense(8, activation="relu", input_shape=(5,)),
                              keras.layers.Dense(3, activation="softmax")])
    x = np.random.randn(6, 5)
    probabilities = model.predict(x)
    logits = model_wo_softmax(model).predict(x)
    np.testing.assert_allclose(np.exp(logits) / np.exp(logits).sum(1, keepdims=True),
                               probabilities, rtol=1e-5)
    np.testing.assert_array_equal(model.predict(x), probabilities)    # model unchanged
    assert model.layers[-1].activation is keras.activations.softmax


def test_separate_softmax_layer_and_shared_weights():
    inputs = keras.layers.Input((4,))
    dense = keras.layers.Dense(3)
    model = keras.models.Model(inputs, keras.layers.Activation("softmax")(dense(inputs)))
    logits_model = model_wo_softmax(model)
    x = np.random.randn(2, 4)
    np.testing.assert_allclose(logits_model.predict(x), x @ dense.get_weights()[0]
                               + dense.get_weights()[1], rtol=1e-5)
    dense.set_weights([w * 2 for w in dense.get_weights()])       # shares the weights
    np.testing.assert_allclose(logits_model.predict(x), x @ dense.get_weights()[0]
                               + dense.get_weights()[1], rtol=1e-5)


def test_no_softmax_is_an_error():
    model = keras.Sequential([keras.layers.Dense(3, input_shape=(5,))])
    with pytest.raises(ValueError, match="applies no softmax"):
        model_wo_softmax(model)
    with pytest.raises(TypeError, match="keras Model"):
        model_wo_softmax("model.h5")
