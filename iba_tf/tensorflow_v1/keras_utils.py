"""Helpers for Keras models."""

from .compat import keras
from .graph import depends_on

__all__ = ["model_wo_softmax", "layer_output"]


def _is_softmax(activation):
    return activation is keras.activations.softmax or getattr(
        activation, "__name__", None) == "softmax"


def model_wo_softmax(model):
    """Returns a model that outputs the logits of ``model``, whose last layer applies softmax.

    The new model shares every layer and weight with ``model``; a last layer with a softmax
    activation is replaced by a copy with a linear activation that uses the same weight
    variables (so training ``model`` changes the logits model too, and innvestigate, which
    inspects layer activations, accepts it). ``model`` itself is not changed. The softmax may be the ``activation`` of the last layer (e.g.
    ``Dense(10, activation="softmax")``) or a separate ``Activation("softmax")`` or ``Softmax``
    layer.

    Raises:
        ValueError: if the last layer applies no softmax.

    Example:
        >>> logits_model = model_wo_softmax(keras.applications.VGG16(weights=None))
    """
    if not isinstance(model, keras.models.Model):
        raise TypeError("model_wo_softmax needs a keras Model, got {!r}.".format(
            type(model).__name__))
    if len(model.outputs) != 1:
        raise ValueError("model_wo_softmax supports models with one output; {} has {}."
                         .format(model.name, len(model.outputs)))
    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    if isinstance(last, keras.layers.Softmax) or (
            isinstance(last, keras.layers.Activation) and _is_softmax(activation)):
        logits = last.input
    elif _is_softmax(activation):
        logits = _linear_copy(last)(last.input)
    else:
        raise ValueError(
            "The last layer of {} ({}, activation {}) applies no softmax; its output can be "
            "used as logits as it is.".format(model.name, last.name, getattr(
                activation, "__name__", activation)))
    return keras.models.Model(model.inputs, logits, name=model.name + "_wo_softmax")


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
