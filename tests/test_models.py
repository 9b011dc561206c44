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


def test_is_softmax_sees_models_tensors_and_activations():
    from iba_tf.tensorflow_v1.models import is_softmax
    dense_softmax = keras.Sequential([keras.layers.Dense(3, activation="softmax",
                                                         input_shape=(5,))])
    logits = keras.Sequential([keras.layers.Dense(3, input_shape=(5,))])
    inputs = keras.layers.Input((4,))
    separate = keras.models.Model(inputs, keras.layers.Softmax()(keras.layers.Dense(3)(inputs)))
    assert is_softmax(dense_softmax) and is_softmax(separate) and not is_softmax(logits)
    assert is_softmax(dense_softmax.output) and not is_softmax(logits.output)
    assert is_softmax(keras.activations.softmax) and not is_softmax(keras.activations.relu)
    assert not is_softmax(model_wo_softmax(dense_softmax))


def test_targets_per_row_broadcasts_and_checks_integers_and_range():
    from iba_tf.errors import InputError
    from iba_tf.tensorflow_v1.models import targets_per_row
    np.testing.assert_array_equal(targets_per_row(2, 3, 4), [2, 2, 2])
    np.testing.assert_array_equal(targets_per_row(np.int32(1), 2, 4), [1, 1])
    np.testing.assert_array_equal(targets_per_row([0, 3], 2, 4), [0, 3])
    np.testing.assert_array_equal(targets_per_row(np.array([3, 1]), 2, 4), [3, 1])
    assert targets_per_row([0, 3], 2, 4).dtype == np.int64
    for bad, message in [
            (2.7, r"target 2\.7 is not a class index: give an int from 0 to 3"),
            (2.0, r"target 2\.0 is not a class index"),
            (True, "target True is not a class index"),
            ("1", "target '1' is not a class index"),
            (4, r"target 4 is out of range: the model has 4 outputs \(0 to 3\)"),
            (-1, "target -1 is out of range"),
            ([1, 2, 3], "target has 3 entries for 2 samples"),
            ([[1], [2]], "target has 2 entries for 2 samples"),
            (np.array([1., 2.]), r"target 1\.0 of sample 0 is not a class index"),
            (np.array([True, False]), "target True of sample 0 is not a class index"),
            ([1, 9], "target 9 of sample 1 is out of range")]:
        with pytest.raises(InputError, match=message):
            targets_per_row(bad, 2, 4)
    with pytest.raises(InputError, match="--target 5 of item b.png is out of range"):
        targets_per_row([0, 5], 2, 4, name="--target", keys=["a.png", "b.png"])
    with pytest.raises(ValueError):        # InputError is a ValueError
        targets_per_row(7, 1, 4)


def test_model_analyzer_removes_the_softmax_and_returns_maps_targets_and_predictions(
        tmp_path):
    from conftest import save_tiny_cnn
    from iba_tf.errors import InputError
    from iba_tf.tensorflow_v1.model_analyzer import ModelAnalyzer
    from iba_tf.tensorflow_v1.models import load_keras_model
    model = load_keras_model(save_tiny_cnn(str(tmp_path / "tiny.h5"), size=16, classes=3))
    x = np.random.RandomState(0).rand(12, 16, 16, 3).astype(np.float32)
    with pytest.raises(InputError, match="unknown layer 'conv_2'; did you mean conv2"):
        ModelAnalyzer.build(model, "conv_2")
    with pytest.raises(InputError, match="beta=inf is invalid"):
        ModelAnalyzer.build(model, beta=float("inf"))
    calls = []
    for explain_predicted, targets in [(True, None), (False, [2, 0])]:
        explainer = ModelAnalyzer.build(model, explain_predicted=explain_predicted, steps=2)
        assert explainer.softmax_removed and explainer.n_classes == 3
        assert explainer.layer == "conv2"          # the default: 8x8 of 16x16 on the main path
        explainer.analyzer.fit(x)
        analyze = explainer.analyzer.analyze
        explainer.analyzer.analyze = lambda *args, **kwargs: calls.append(kwargs) or analyze(
            *args, **kwargs)
        maps, explained, predicted = explainer.explain(x[:2], targets)
        assert maps.shape == (2, 16, 16) and maps.dtype == np.float32
        np.testing.assert_array_equal(predicted, model.predict(x[:2]).argmax(axis=1))
        np.testing.assert_array_equal(explained, predicted if targets is None else targets)
    assert calls == [{"return_predictions": True}] * 2    # the predictions come from analyze
    with pytest.raises(InputError, match="target 3 of item b is out of range"):
        explainer.explain(x[:2], [0, 3], keys=["a", "b"])
