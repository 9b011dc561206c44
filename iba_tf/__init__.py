"""iba_tf: Per-Sample Information Bottleneck attribution for TensorFlow 1 / Keras models.

The framework-free parts (``WelfordEstimator``, ``to_saliency_map``, ``plot_saliency_map`` and
the small helpers) import no TensorFlow. The TensorFlow classes are loaded on first use, so
that ``import iba_tf`` stays cheap and the optional PyTorch port never loads TensorFlow.

Example:
    >>> from iba_tf import IBALayer, to_saliency_map, plot_saliency_map
"""
import importlib

from .images import get_imagenet_generator
from .plotting import plot_saliency_map
from .saliency import to_saliency_map
from .utils import get_tqdm, ifnone, to_unit_interval
from .welford import WelfordEstimator

__version__ = "0.1.0"

_TENSORFLOW_NAMES = {
    "IBACopy": "iba_tf.tensorflow_v1",
    "IBACopyInnvestigate": "iba_tf.tensorflow_v1.innvestigate_analyzer",
    "IBALayer": "iba_tf.tensorflow_v1",
    "IBAReadout": "iba_tf.tensorflow_v1.readout",
    "IBAReadoutInnvestigate": "iba_tf.tensorflow_v1.innvestigate_readout",
    "InputIBA": "iba_tf.tensorflow_v1.input_iba",
    "TFWelfordEstimator": "iba_tf.tensorflow_v1",
    "model_wo_softmax": "iba_tf.tensorflow_v1",
    "custom_objects": "iba_tf.tensorflow_v1.registration",
}

__all__ = ["WelfordEstimator", "to_saliency_map", "plot_saliency_map", "get_tqdm", "ifnone",
           "to_unit_interval", "get_imagenet_generator"] + sorted(_TENSORFLOW_NAMES)


def _register_with_keras(keras_module):
    from .tensorflow_v1.registration import register_with_keras
    register_with_keras(keras_module)


def _register_with_innvestigate(innvestigate_module):
    from .tensorflow_v1.registration import register_with_innvestigate
    register_with_innvestigate(innvestigate_module)


try:
    # wrapt comes with TensorFlow; it calls a hook when keras / innvestigate is imported, or at
    # once if it already is, so registering needs no TensorFlow import here.
    import wrapt
except ImportError:  # pragma: no cover - no TensorFlow installed, so nothing to register with
    pass
else:
    wrapt.register_post_import_hook(_register_with_keras, "keras")
    wrapt.register_post_import_hook(_register_with_innvestigate, "innvestigate")
    # importing the analyzer imports innvestigate first, before the class exists: register
    # again once the analyzer's module is done
    for _analyzer in ("innvestigate_analyzer", "innvestigate_readout", "input_iba"):
        wrapt.register_post_import_hook(_register_with_innvestigate,
                                        __name__ + ".tensorflow_v1." + _analyzer)


def __getattr__(name):
    if name in _TENSORFLOW_NAMES:
        return getattr(importlib.import_module(_TENSORFLOW_NAMES[name]), name)
    raise AttributeError("module 'iba_tf' has no attribute {!r}".format(name))


def __dir__():
    return sorted(set(globals()) | set(__all__))
