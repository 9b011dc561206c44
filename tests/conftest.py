"""Shared fixtures: a fresh Keras graph per test and small models.

The suite runs on both TensorFlow stacks. On TensorFlow 2 it disables eager execution before any
test builds a model, as innvestigate 2 requires of its users (iba_tf never flips that global
state itself: the suite plays the user). A test specific to one stack is marked
``@pytest.mark.tf1_only`` or ``@pytest.mark.tf2_only`` and is skipped on the other.
"""
import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", category=FutureWarning)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import tensorflow as _tf  # noqa: E402

#: True on the TensorFlow 2 stack (TensorFlow 2.14, Keras 2.14, innvestigate 2).
TF2 = int(_tf.__version__.split(".")[0]) >= 2
if TF2:
    _tf.compat.v1.disable_eager_execution()

_STACK_MARKERS = {
    "tf1_only": (not TF2, "needs the TensorFlow 1.15 stack"),
    "tf2_only": (TF2, "needs the TensorFlow 2 stack"),
}


def pytest_report_header(config):
    return "iba-tf stack: TensorFlow {} ({})".format(
        _tf.__version__, "graph mode, eager disabled" if TF2 else "TF 1.15 graph mode")


def pytest_collection_modifyitems(config, items):
    for item in items:
        for marker, (runs_here, reason) in _STACK_MARKERS.items():
            if item.get_closest_marker(marker) and not runs_here:
                item.add_marker(pytest.mark.skip(reason="{} (this is TensorFlow {})".format(
                    reason, _tf.__version__)))


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
