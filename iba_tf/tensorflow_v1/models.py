"""Model helpers shared by the analyzer, the ``iba-tf`` command and the data-set explainer.

Loading a saved Keras model, the softmax check and its removal, the layers a bottleneck can go
after and the default one, and turning targets into one class index per sample. Bad input
raises :class:`iba_tf.errors.InputError`.

Example:
    >>> model = load_keras_model("vgg16.h5")
    >>> logits_model = model_wo_softmax(model) if is_softmax(model) else model
    >>> default_feature_layer(logits_model).name
    'block3_pool'
"""
import contextlib
import difflib
import importlib
import io
import os

from ..checks import check_targets
from ..errors import InputError
from ..quiet import quiet_tensorflow
from .compat import keras, keras_of, tf_keras
from .graph import Tail, depends_on

__all__ = ["load_keras_model", "import_custom_objects", "is_softmax", "model_wo_softmax",
           "layer_output", "candidate_layers", "check_layer", "default_feature_layer",
           "is_on_main_path", "feature_tensor", "image_input_shape", "targets_per_row"]


# ---------------------------------------------------------------------- loading
def import_custom_objects(specs):
    """Imports ``"module:attr"`` specs into a ``custom_objects`` dict for Keras.

    Raises:
        InputError: a spec is not ``module:attr`` or does not import.
    """
    objects = {}
    for spec in specs or ():
        module_name, _, attr = spec.partition(":")
        if not module_name or not attr:
            raise InputError("--custom-objects expects module:attr, got {!r}".format(spec))
        try:
            objects[attr.split(".")[-1]] = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as error:
            raise InputError("cannot import custom object {!r}: {}".format(spec, error))
    return objects


def load_keras_model(path, custom_objects=()):
    """Loads a Keras ``.h5`` model without compiling it (and without TensorFlow's chatter).

    Args:
        path (str): the model file.
        custom_objects: ``"module:attr"`` specs of custom layers or functions it needs.

    Raises:
        InputError: the file is missing or is not a Keras model that loads.
    """
    if not os.path.isfile(path):
        raise InputError("model file not found: {}".format(path))
    objects = import_custom_objects(custom_objects)
    quiet_tensorflow()
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            return _keras_that_wrote(path).models.load_model(path, custom_objects=objects,
                                                             compile=False)
    except (OSError, ValueError, KeyError, TypeError) as error:
        text = str(error).strip()
        first_line = text.splitlines()[0] if text else type(error).__name__
        raise InputError("{} is not a Keras model that loads with keras.models.load_model: {}. "
                         "Custom layers can be named with --custom-objects module:attr".format(
                             path, first_line))


def _keras_that_wrote(path):
    """tf.keras for files that tf.keras saved (their ``keras_version`` ends in "-tf"), else keras.

    On TensorFlow 1.15 the two are different Kerases, and Keras 2.3.1 cannot rebuild every
    tf.keras configuration; on TensorFlow 2 they are one.
    """
    try:
        import h5py
        with h5py.File(path, "r") as saved:
            version = saved.attrs.get("keras_version", b"")
    except (OSError, ImportError):      # not HDF5: let load_model say what is wrong
        return keras
    if isinstance(version, bytes):
        version = version.decode("utf-8", "replace")
    return tf_keras if str(version).endswith("-tf") else keras


# ---------------------------------------------------------------------- softmax
def is_softmax(obj):
    """True if ``obj`` applies a softmax.

    Args:
        obj: a Keras model (its output is a softmax, or its last layer applies one), a tensor
            (computed by a softmax op) or an activation function.
    """
    if isinstance(obj, (keras.models.Model, tf_keras.models.Model)):
        return is_softmax(obj.output) or is_softmax(getattr(obj.layers[-1], "activation", None))
    if hasattr(obj, "op") and hasattr(obj.op, "type"):
        return obj.op.type == "Softmax"
    return obj in (keras.activations.softmax, tf_keras.activations.softmax) or getattr(obj, "__name__", None) == "softmax"


def model_wo_softmax(model):
    """Returns a model that outputs the logits of ``model``, whose last layer applies softmax.

    The new model shares every layer and weight with ``model``; a last layer with a softmax
    activation is replaced by a copy with a linear activation that uses the same weight
    variables (so training ``model`` changes the logits model too, and innvestigate, which
    inspects layer activations, accepts it). ``model`` itself is not changed. The softmax may
    be the ``activation`` of the last layer (e.g. ``Dense(10, activation="softmax")``) or a
    separate ``Activation("softmax")`` or ``Softmax`` layer.

    Raises:
        ValueError: if the last layer applies no softmax.

    Example:
        >>> logits_model = model_wo_softmax(keras.applications.VGG16(weights=None))
    """
    if not isinstance(model, (keras.models.Model, tf_keras.models.Model)):
        raise TypeError("model_wo_softmax needs a keras or tf.keras Model, got {!r}.".format(
            type(model).__name__))
    model_keras = keras_of(model)
    if len(model.outputs) != 1:
        raise ValueError("model_wo_softmax supports models with one output; {} has {}."
                         .format(model.name, len(model.outputs)))
    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    if isinstance(last, model_keras.layers.Softmax) or (
            isinstance(last, model_keras.layers.Activation) and is_softmax(activation)):
        logits = last.input
    elif is_softmax(activation):
        logits = _linear_copy(last)(last.input)
    else:
        raise ValueError(
            "The last layer of {} ({}, activation {}) applies no softmax; its output can be "
            "used as logits as it is.".format(model.name, last.name, getattr(
                activation, "__name__", activation)))
    return model_keras.models.Model(model.inputs, logits, name=model.name + "_wo_softmax")


def _linear_copy(layer):
    """A new layer like ``layer`` with a linear activation, built on ``layer``'s variables."""
    config = layer.get_config()
    config["activation"] = "linear"
    config["name"] = layer.name + "_logits"
    copy = type(layer).from_config(config)
    originals = {w.name.split("/")[-1].split(":")[0]: w for w in layer.weights}

    def reuse_weight(name=None, shape=None, trainable=True, **kwargs):
        # build() asks for its weights by name: hand over the original variables
        weight = originals[name]
        (copy._trainable_weights if trainable else copy._non_trainable_weights).append(weight)
        return weight

    copy.add_weight = reuse_weight
    try:
        copy.build(layer.input_shape)
    except KeyError:            # a weight named unlike the original's: copy the values instead
        copy = type(layer).from_config(config)
        copy.build(layer.input_shape)
        copy.set_weights(layer.get_weights())
        return copy
    del copy.add_weight
    return copy


# ---------------------------------------------------------------------- layers
def layer_output(model, layer):
    """Returns the output tensor of ``layer`` within ``model``.

    A layer shared by several models (e.g. after :func:`model_wo_softmax`) has one output per
    model; this picks the one ``model``'s output is computed from.
    """
    outputs = [layer.get_output_at(i) for i in range(len(layer._inbound_nodes))]
    for output in outputs:
        if any(depends_on(model_output, output) for model_output in model.outputs):
            return output
    return outputs[-1]


def candidate_layers(model):
    """Layers a bottleneck can go after: ``(name, output shape)`` of the hidden layers with a
    fully known output shape."""
    layers = []
    for layer in model.layers[:-1]:
        if isinstance(layer, keras_of(model).layers.InputLayer):
            continue
        try:
            shape = layer.output_shape
        except AttributeError:
            continue
        if isinstance(shape, tuple) and len(shape) > 1 and all(shape[1:]):
            layers.append((layer.name, shape[1:]))
    return layers


def check_layer(model, name):
    """Returns ``name`` if a bottleneck can go after that layer.

    Raises:
        InputError: no such candidate layer (suggests close names).
    """
    names = [layer for layer, _ in candidate_layers(model)]
    if name in names:
        return name
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = "; did you mean {}?".format(" or ".join(close)) if close else \
        "; run 'iba-tf layers MODEL' for the list"
    raise InputError("unknown layer {!r}{}".format(name, hint))


def is_on_main_path(model, layer):
    """True if every path from the model's input to its output runs through ``layer``.

    A bottleneck after a layer that a skip connection bypasses restricts only one branch.
    """
    try:
        return not Tail(layer_output(model, layer), model.outputs).fed
    except ValueError:          # the output does not depend on this layer
        return False


def default_feature_layer(model):
    """Returns the layer IBACopyInnvestigate puts the bottleneck after when none is named.

    Among the layers that all of the information flows through (no skip connection runs around
    them, see :func:`is_on_main_path`): the first whose output has the input's spatial axes at
    no more than 1/8 of the input's resolution (VGG16 at 224x224: ``block3_pool``, the input of
    ``block4_conv1``, the layer of the paper's VGG experiments; in a residual network the
    output of a residual block); if the resolution never drops that far, the last such layer
    that still has spatial axes; for models without spatial axes, the last hidden layer.

    Raises:
        ValueError: the model has no hidden layer.
    """
    input_shape = keras.backend.int_shape(model.input)
    spatial = input_shape[1:-1]
    # A Sequential model's layers have no InputLayer: skip input layers by type, not position
    candidates = [layer for layer in model.layers[:-1] if not isinstance(
        layer, keras_of(model).layers.InputLayer)]
    if spatial and all(spatial):
        with_axes = [layer for layer in candidates
                     if len(layer.output_shape) == len(input_shape)]
        on_path = []
        for layer in with_axes:
            size = layer.output_shape[1:-1]
            small = all(s is not None and 8 * s <= full for s, full in zip(size, spatial))
            if small and is_on_main_path(model, layer):
                return layer
            if not small and is_on_main_path(model, layer):
                on_path.append(layer)
        if on_path:
            return on_path[-1]
    if not candidates:
        raise ValueError("The model {} has no hidden layer to put the bottleneck after."
                         .format(model.name))
    return candidates[-1]


def feature_tensor(model, feature_name):
    """The tensor a bottleneck restricts: a layer's output by layer name, else a tensor name.

    Args:
        feature_name (str): a layer name, a tensor name (returned as it is, for the caller to
            look up), or None for :func:`default_feature_layer`.
    """
    if feature_name is None:
        return layer_output(model, default_feature_layer(model))
    if not isinstance(feature_name, str):
        raise TypeError("feature_name must be a layer or tensor name (str), got {!r}."
                        .format(type(feature_name).__name__))
    layer_names = [layer.name for layer in model.layers]
    if feature_name in layer_names:
        return layer_output(model, model.get_layer(feature_name))
    return feature_name               # a tensor name; IBACopy checks it and suggests matches


# ---------------------------------------------------------------------- inputs and targets
def image_input_shape(model):
    """``(height, width, channels)`` of a model that takes images of a fixed size.

    Raises:
        InputError: the input is not ``(height, width, 1 or 3 channels)`` of known size.
    """
    shape = model.input_shape
    if not isinstance(shape, tuple) or len(shape) != 4 or None in shape[1:]:
        raise InputError("the model takes inputs of shape {}, not images of a fixed size "
                         "(height, width, channels)".format(
                             shape[1:] if isinstance(shape, tuple) else shape))
    if shape[3] not in (1, 3):
        raise InputError("the model expects {} channels per pixel; image files give 1 (grey) "
                         "or 3 (RGB)".format(shape[3]))
    return tuple(int(s) for s in shape[1:])


#: The targets check of the package, :func:`iba_tf.checks.check_targets` (its one home),
#: under the name the command line and the data-set workers use.
targets_per_row = check_targets
