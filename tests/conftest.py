"""Shared fixtures: a fresh Keras graph per test and small models."""
import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", category=FutureWarning)

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_keras():
    """Each test gets its own graph and session, and a fixed numpy seed."""
    import keras.backend as K
    import tensorflow as tf
    tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)
    K.clear_session()
    np.random.seed(0)
    yield
    K.clear_session()


def small_cnn(input_shape=(32, 32, 3), classes=5, iba_kwargs=None):
    """Conv -> Conv -> IBALayer -> Flatten -> Dense: the small CNN of the tests."""
    import keras
    from iba_tf import IBALayer
    return keras.Sequential([
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", input_shape=input_shape),
        keras.layers.Conv2D(8, 3, padding="same", strides=2, activation="relu"),
        IBALayer(name="iba", **(iba_kwargs or {})),
        keras.layers.Flatten(),
        keras.layers.Dense(classes),
    ])


def save_tiny_cnn(path, size, classes):
    """Saves a small RGB CNN ending in a softmax (conv1, conv2, out) to ``path``."""
    import keras
    keras.Sequential([
        keras.layers.Conv2D(6, 3, padding="same", activation="relu",
                            input_shape=(size, size, 3), name="conv1"),
        keras.layers.Conv2D(6, 3, strides=2, padding="same", activation="relu", name="conv2"),
        keras.layers.Flatten(),
        keras.layers.Dense(classes, activation="softmax", name="out")]).save(path)
    return path


@pytest.fixture
def fitted_cnn():
    """The small CNN with its bottleneck fitted on 40 random images and a loss set.

    Returns (model, iba, target placeholder, images).
    """
    model = small_cnn()
    iba = model.get_layer("iba")
    images = np.random.rand(40, 32, 32, 3).astype("float32")
    target = iba.set_classification_loss(model.output)
    iba.fit({model.input: images})
    return model, iba, target, images
