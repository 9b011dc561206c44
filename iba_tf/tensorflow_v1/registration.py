"""The one place iba_tf registers with Keras (for ``load_model``) and innvestigate.

``import iba_tf`` installs post-import hooks (see ``iba_tf/__init__.py``) that call
:func:`register_with_keras` / :func:`register_with_innvestigate` once keras / innvestigate is
imported (at once, if it already is), so the registration needs no TensorFlow import until
then.
"""
import sys

__all__ = ["custom_objects", "register_with_keras", "register_with_innvestigate"]

_PACKAGE = __name__.rpartition(".")[0]


def custom_objects(tf_keras=False):
    """Returns the ``custom_objects`` that ``keras.models.load_model`` needs for iba_tf layers.

    Importing iba_tf also registers them globally (with both Kerases), so ``load_model(path)``
    works as it is.

    Args:
        tf_keras (bool): the objects for ``tf.keras.models.load_model`` (on TensorFlow 1.15 a
            Keras of its own; on TensorFlow 2 the same).

    Example:
        >>> model = keras.models.load_model("model.h5", custom_objects=custom_objects())
    """
    from .layer import IBALayer, TFKerasIBALayer
    return {"IBALayer": TFKerasIBALayer if tf_keras else IBALayer}


def register_with_keras(keras_module=None):
    """Lets ``keras.models.load_model`` find IBALayer; safe to call more than once."""
    if _unfinished(_PACKAGE + ".compat", "keras"):
        return  # keras is imported by the package itself, which registers when it is done
    from .compat import keras, tf_keras
    keras.utils.get_custom_objects().update(custom_objects())
    tf_keras.utils.get_custom_objects().update(custom_objects(tf_keras=True))


def register_with_innvestigate(innvestigate_module=None):
    """Registers ``"iba"`` (IBACopyInnvestigate), ``"iba_readout"`` and ``"iba_input"``
    (InputIBA) with innvestigate.

    Safe to call more than once.
    """
    if _unfinished(_PACKAGE + ".innvestigate_analyzer", "IBACopyInnvestigate") or \
            _unfinished(_PACKAGE + ".innvestigate_readout", "IBAReadoutInnvestigate") or \
            _unfinished(_PACKAGE + ".input_iba", "InputIBA"):
        return  # the post-import hooks of those modules call this again once they are done
    import innvestigate.analyzer
    from .innvestigate_analyzer import IBACopyInnvestigate
    from .innvestigate_readout import IBAReadoutInnvestigate
    from .input_iba import InputIBA
    innvestigate.analyzer.analyzers["iba_input"] = InputIBA
    innvestigate.analyzer.InputIBA = InputIBA
    innvestigate.analyzer.analyzers["iba"] = IBACopyInnvestigate
    innvestigate.analyzer.IBACopyInnvestigate = IBACopyInnvestigate
    innvestigate.analyzer.analyzers["iba_readout"] = IBAReadoutInnvestigate
    innvestigate.analyzer.IBAReadoutInnvestigate = IBAReadoutInnvestigate


def _unfinished(module_name, name):
    """True while ``module_name`` is being imported and does not define ``name`` yet."""
    module = sys.modules.get(module_name)
    return module is not None and not hasattr(module, name)
