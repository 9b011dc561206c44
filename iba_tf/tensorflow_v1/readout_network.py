"""The readout network of the Readout Bottleneck: readout feature maps -> alpha.

Each readout map is standardised by its own statistics, ``(r - mean) / max(std, min_std)``;
dense outputs (vectors, e.g. the logits) are broadcast to every position; all maps are resized
bilinearly (corners aligned) to the bottleneck's spatial size and concatenated along the
channels. Three 1x1 convolutions with ReLUs between them, ``C_in -> C_in / 2 -> 2 C_feat ->
C_feat``, predict alpha, clipped to ``[-5, 5]`` (see :func:`clip_alpha`). The last convolution starts near zero with
bias 5, so training starts from alpha = 5: the flow almost unrestricted (see
``shared/IBA_METHOD.md``, "The Readout Bottleneck").
"""
import collections

import numpy as np

from .compat import tf
from ..readout_spec import ALPHA_LIMIT, initial_weights  # noqa: F401 (re-exported)

__all__ = ["ReadoutNetwork", "initial_weights", "readout_resizable", "clip_alpha",
           "ALPHA_LIMIT"]


def readout_resizable(shape, feature_shape):
    """True if a readout map of ``shape`` (no batch axis) can be brought to the feature's size.

    Image-like maps ``(h, w, c)`` are resized, vectors ``(c,)`` broadcast; both need a
    feature map ``(h, w, c)``.
    """
    known = all(isinstance(dim, int) and dim > 0 for dim in shape)
    return known and len(feature_shape) == 3 and len(shape) in (1, 3)


@tf.custom_gradient
def clip_alpha(x):
    """Clips ``x`` to ``[-5, 5]``; outside, the gradient passes only where it leads back in.

    With a plain clip, a neuron whose alpha is pushed past 5 gets no gradient again, and a
    channel whose alpha is past 5 everywhere is stuck for good (the readout's last layer starts
    at 5 exactly, so half its outputs start past it). Gradient descent moves ``x`` by
    ``-gradient``: above 5 a positive gradient leads back in, below -5 a negative one.
    """
    def gradient(upstream):
        outward = tf.logical_or(tf.logical_and(x > ALPHA_LIMIT, upstream < 0.),
                                tf.logical_and(x < -ALPHA_LIMIT, upstream > 0.))
        return tf.where(outward, tf.zeros_like(upstream), upstream)
    return tf.clip_by_value(x, -ALPHA_LIMIT, ALPHA_LIMIT), gradient


def _local_variable(name, initial):
    return tf.Variable(initial, name=name, trainable=False, use_resource=True,
                       collections=[tf.GraphKeys.LOCAL_VARIABLES])


class ReadoutNetwork:
    """The readout network's ops in the current default graph.

    Args:
        readout_shapes (list): shape of each readout map, without the batch axis.
        feature_shape (tuple): the bottleneck's feature shape ``(h, w, c)``.
        name (str): name scope.

    Attributes:
        inputs (list): one placeholder per readout map (the raw, unstandardised values).
        alpha: the predicted alpha ``(n, h, w, c)``.
        weights (list): the six trainable variables.
        statistics (OrderedDict): statistic variable -> placeholder; :attr:`configure` assigns
            them (the readout maps' means and stds, and ``min_std``).
    """

    def __init__(self, readout_shapes, feature_shape, name="readout"):
        height, width, channels = feature_shape
        with tf.name_scope(name):
            self.inputs = [tf.placeholder(tf.float32, (None,) + tuple(shape),
                                          name="readout_{}".format(i))
                           for i, shape in enumerate(readout_shapes)]
            self.min_std = _local_variable("min_std", tf.constant(0.01))
            statistics = [self.min_std]
            maps = []
            for i, (value, shape) in enumerate(zip(self.inputs, readout_shapes)):
                mean = _local_variable("mean_{}".format(i), tf.zeros(shape))
                std = _local_variable("std_{}".format(i), tf.ones(shape))
                statistics += [mean, std]
                standard = (value - mean) / tf.maximum(std, self.min_std)
                maps.append(self._resized(standard, height, width))
            self.statistics = collections.OrderedDict(
                (variable, tf.placeholder(tf.float32, variable.shape)) for variable in statistics)
            self.configure = tf.group(*[variable.assign(value)
                                        for variable, value in self.statistics.items()])
            joined = tf.concat(maps, axis=-1)
            in_channels = int(joined.shape[-1])
            initial = initial_weights(in_channels, channels)
            self.weights = [tf.Variable(value, name="weight_{}".format(i), use_resource=True)
                            for i, value in enumerate(initial)]
            self.alpha = self._predict(joined)
            self.weight_values = [tf.placeholder(tf.float32, w.shape) for w in self.weights]
            self.set_weights_op = tf.group(*[weight.assign(value) for weight, value in
                                             zip(self.weights, self.weight_values)])
            self.initial_values = [tf.constant(value) for value in initial]

    @staticmethod
    def _resized(standard, height, width):
        if standard.shape.ndims == 2:   # a vector: the same at every position
            return tf.tile(standard[:, None, None, :], [1, height, width, 1])
        if tuple(standard.shape[1:3].as_list()) == (height, width):
            return standard
        return tf.image.resize_bilinear(standard, (height, width), align_corners=True)

    def _predict(self, joined):
        hidden = joined
        for index in range(0, len(self.weights), 2):
            kernel, bias = self.weights[index], self.weights[index + 1]
            hidden = tf.tensordot(hidden, kernel, axes=[[3], [0]]) + bias
            if index < len(self.weights) - 2:
                hidden = tf.nn.relu(hidden)
        return clip_alpha(hidden)

    def statistics_feed(self, statistics, min_std):
        """The feed of :attr:`configure` for ``[(mean, std), ...]`` per readout map."""
        values = [np.float32(min_std)]
        for mean, std in statistics:
            values += [np.asarray(mean, np.float32), np.asarray(std, np.float32)]
        return dict(zip(self.statistics.values(), values))

    def weights_feed(self, values):
        """The feed of :attr:`set_weights_op` for numpy weights (shapes checked)."""
        for variable, value in zip(self.weights, values):
            if tuple(variable.shape.as_list()) != np.shape(value):
                raise ValueError("A readout weight has shape {}, expected {}.".format(
                    np.shape(value), tuple(variable.shape.as_list())))
        return dict(zip(self.weight_values, values))
