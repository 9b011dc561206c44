"""The TensorFlow 1 / Keras implementation of the Per-Sample Bottleneck."""
from .copy import IBACopy
from .estimator import TFWelfordEstimator
from .models import model_wo_softmax
from .layer import IBALayer

__all__ = ["IBACopy", "IBALayer", "TFWelfordEstimator", "model_wo_softmax", "custom_objects"]


def custom_objects():
    """Returns the ``custom_objects`` that ``keras.models.load_model`` needs for iba_tf layers.

    Importing iba_tf also registers them globally, so ``load_model(path)`` works as it is.

    Example:
        >>> model = keras.models.load_model("model.h5", custom_objects=custom_objects())
    """
    return {"IBALayer": IBALayer}


def _register():
    import keras
    keras.utils.get_custom_objects().update(custom_objects())


_register()
