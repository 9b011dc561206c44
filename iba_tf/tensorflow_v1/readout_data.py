"""What IBAReadout checks and reads: its layers, their shapes, batches of data, statistics."""
import itertools

import numpy as np

from .compat import keras
from .readout_network import readout_resizable

__all__ = ["layer_name", "check_shapes", "batches", "inputs_of", "inputs_and_targets",
           "check_inputs", "statistics"]

ARRAY_BATCH = 32


def layer_name(model, layer, what):
    """Returns the name of ``layer`` (a name or a layer) in ``model``; ValueError if absent."""
    if isinstance(layer, keras.layers.Layer):
        layer = layer.name
    if not isinstance(layer, str):
        raise TypeError("The {} must be a layer name (str) or a Keras layer, got {!r}."
                        .format(what, type(layer).__name__))
    names = [l.name for l in model.layers]
    if layer not in names:
        raise ValueError("The {} {!r} is not a layer of the model {}; its layers are: {}."
                         .format(what, layer, model.name, ", ".join(names)))
    return layer


def check_shapes(readout):
    """Checks the attach layer's and the readout layers' shapes; returns the feature shape."""
    shape = readout._feature.shape
    feature_shape = tuple(shape[1:].as_list())
    if shape.ndims != 4 or not shape[1:].is_fully_defined():
        raise ValueError(
            "The attach layer {!r} outputs shape {}; the Readout Bottleneck needs a feature map "
            "(batch, height, width, channels) of known size. Attach it after a convolution."
            .format(readout.attach_layer, shape))
    for name, tensor in zip(readout.readout_layers, readout._readouts):
        readout_shape = tuple(tensor.shape[1:].as_list()) if tensor.shape.ndims else ()
        if not readout_resizable(readout_shape, feature_shape):
            raise ValueError(
                "The readout layer {!r} outputs shape {}, which cannot be brought to the "
                "bottleneck's resolution {}: readout layers must output feature maps "
                "(batch, height, width, channels) or vectors (batch, units) of known size."
                .format(name, tuple(tensor.shape.as_list()), feature_shape[:2]))
    return feature_shape


def batches(data, steps):
    """Yields up to ``steps`` batches (None: all) of a Sequence, an iterable or an (x, y) tuple.

    A Sequence or a tuple of arrays is read from the start; a generator continues where it
    stopped.
    """
    if isinstance(data, tuple) and data and isinstance(data[0], np.ndarray):
        n = len(data[0])
        data = [tuple(part[i:i + ARRAY_BATCH] for part in data)
                for i in range(0, n, ARRAY_BATCH)]
    elif isinstance(data, np.ndarray):
        data = [data[i:i + ARRAY_BATCH] for i in range(0, len(data), ARRAY_BATCH)]
    if isinstance(data, keras.utils.Sequence):
        sequence = data
        data = (sequence[i] for i in range(len(sequence)))
    elif not hasattr(data, "__iter__"):
        raise TypeError("Data must be a keras.utils.Sequence, a generator of batches (x, y) or "
                        "a tuple of arrays (x, y), got {!r}.".format(type(data).__name__))
    return itertools.islice(iter(data), steps)


def steps_of(data, steps):
    """The number of batches one epoch takes; ValueError for endless data without ``steps``."""
    if steps is not None:
        return int(steps)
    if isinstance(data, tuple) and data and isinstance(data[0], np.ndarray):
        return -(-len(data[0]) // ARRAY_BATCH)
    try:
        return len(data)
    except TypeError:
        raise ValueError("The data {!r} has no length: give steps_per_epoch (and "
                         "validation_steps for validation data).".format(
                             type(data).__name__)) from None


def check_inputs(readout, x):
    """Returns ``x`` as float32; ValueError unless it is a batch of the model's input shape."""
    x = np.asarray(x, np.float32)
    expected = tuple(readout.model.input.shape[1:].as_list())
    fits = x.ndim == len(expected) + 1 and all(
        want is None or want == got for want, got in zip(expected, x.shape[1:]))
    if not fits or len(x) == 0:
        raise ValueError("The inputs have shape {}, but the model {} takes batches of shape "
                         "(n, {}); give at least one sample.".format(
                             x.shape, readout.model.name,
                             ", ".join(str(d) for d in expected)))
    return x


def inputs_of(readout, batch):
    """The inputs of a batch ``x``, ``(x, y)`` or ``(x, y, weights)``, checked."""
    x = batch[0] if isinstance(batch, (tuple, list)) else batch
    return check_inputs(readout, x)


def inputs_and_targets(readout, batch):
    """Returns ``(x, target indices)``; without labels the model's own prediction is explained."""
    x = inputs_of(readout, batch)
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        return x, readout.model.predict(x).argmax(-1).astype(np.int32)
    y = np.asarray(batch[1])
    if y.ndim == 2:
        y = y.argmax(-1)
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer) and \
            not np.all(np.equal(np.mod(y, 1), 0)):
        raise ValueError("The labels have shape {} for {} inputs: give one class index per "
                         "input (n,) or one-hot rows (n, classes).".format(
                             np.shape(batch[1]), len(x)))
    return x, y.astype(np.int32)


def statistics(readout, tensor_name):
    """(mean, std, active) of one tensor's estimator; RuntimeError if it was not fitted."""
    estimator = readout._estimators[tensor_name]
    if estimator.n_samples() < 2:
        raise RuntimeError(
            "The readout has no feature statistics for {} ({} sample(s) fitted): call "
            "estimate(data) first.".format(tensor_name, estimator.n_samples()))
    values = (estimator.mean(), estimator.std(), estimator.active_neurons())
    if not all(np.all(np.isfinite(v)) for v in values):
        raise ValueError("The statistics of {} hold NaN/inf values: reset_estimate() and "
                         "estimate on valid inputs.".format(tensor_name))
    return tuple(np.asarray(v, np.float32) for v in values)
