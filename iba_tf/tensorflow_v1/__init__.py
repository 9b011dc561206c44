"""The TensorFlow 1 / Keras implementation of the Per-Sample Bottleneck."""
from .copy import IBACopy
from .estimator import TFWelfordEstimator
from .models import model_wo_softmax
from .layer import IBALayer
from .registration import custom_objects, register_with_keras

__all__ = ["IBACopy", "IBALayer", "TFWelfordEstimator", "model_wo_softmax", "custom_objects"]

register_with_keras()
