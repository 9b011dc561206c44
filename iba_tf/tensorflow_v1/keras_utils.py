"""Helpers for Keras models."""
import keras

from .graph import depends_on

__all__ = ["model_wo_softmax", "layer_output"]


def _is_softmax(activation):
    return activation is keras.activations.softmax or getattr(
        activation, "__name__", None) == "softmax"


def model_wo_softmax(model):
    """Returns a model that outputs the logits of ``model``, whose last layer applies softmax.

    The new model shares every layer (and so every weight) with ``model``; ``model`` itself is
    not changed. The softmax may be the ``activation`` of the last layer (e.g.
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
        # Calling the layer again with a linear activation builds the logits with its own
        # weights; the original model's tensors are already built and stay as they are.
        last.activation = keras.activations.linear
        try:
            logits = last(last.input)
        finally:
            last.activation = activation
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
