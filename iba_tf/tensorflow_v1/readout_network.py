"""The readout network of the Readout Bottleneck: readout feature maps -> alpha.

Each readout map is standardised by its own statistics, ``(r - mean) / max(std, min_std)``;
dense outputs (vectors, e.g. the logits) are broadcast to every position; all maps are resized
bilinearly (corners aligned) to the bottleneck's spatial size and concatenated along the
channels. Three 1x1 convolutions with ReLUs between them, ``C_in -> C_in / 2 -> 2 C_feat ->
C_feat``, predict alpha, clipped to ``[-5, 5]`` (see :func:`clip_alpha`). The first convolution
of a small map with many channels is computed at the map's resolution and resized after (see
``ReadoutNetwork._first_layer``): the same numbers up to rounding, fewer operations. The last
convolution starts near zero with bias 5, so training starts from alpha = 5: the flow almost
unrestricted (see ``shared/IBA_METHOD.md``, "The Readout Bottleneck").
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


def _convolved(maps, kernel):
    """A 1x1 convolution without bias: ``maps (n, [h, w,] c_in) x kernel (c_in, c_out)``."""
    if maps.shape.ndims == 2:
        return tf.matmul(maps, kernel)
    return tf.tensordot(maps, kernel, axes=[[3], [0]])


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
            standard_maps = []
            for i, (value, shape) in enumerate(zip(self.inputs, readout_shapes)):
                mean = _local_variable("mean_{}".format(i), tf.zeros(shape))
                std = _local_variable("std_{}".format(i), tf.ones(shape))
                statistics += [mean, std]
                standard_maps.append((value - mean) / tf.maximum(std, self.min_std))
            self.statistics = collections.OrderedDict(
                (variable, tf.placeholder(tf.float32, variable.shape)) for variable in statistics)
            self.configure = tf.group(*[variable.assign(value)
                                        for variable, value in self.statistics.items()])
            in_channels = sum(int(shape[-1]) for shape in readout_shapes)
            initial = initial_weights(in_channels, channels)
            self.weights = [tf.Variable(value, name="weight_{}".format(i), use_resource=True)
                            for i, value in enumerate(initial)]
            hidden = self._first_layer(standard_maps, height, width)
            self.alpha = self._predict(hidden)
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

    def _first_layer(self, standard_maps, height, width):
        """The first 1x1 convolution of the joined maps, before its ReLU.

        ``concat(maps) W + b = sum_i map_i W_i + b`` (``W_i``: the rows of ``W`` for map i), and
        resizing (bilinear) or broadcasting acts on every channel alone, so it commutes with
        the convolution. A map with fewer positions than the bottleneck and more channels
        than the convolution's output (e.g. a deep layer after it) is convolved at its own
        resolution and resized after: fewer multiplications and a smaller resize. The other
        maps are brought to the bottleneck's resolution and convolved as their concatenation
        (exactly the plain formula when no map is convolved on its own).
        """
        kernel, bias = self.weights[0], self.weights[1]
        out_channels = int(kernel.shape[1])
        joined, joined_rows, parts, start = [], [], [], 0
        for standard in standard_maps:
            channels = int(standard.shape[-1])
            rows = kernel[start:start + channels]
            start += channels
            small = standard.shape.ndims == 2 or \
                int(standard.shape[1]) * int(standard.shape[2]) < height * width
            if small and channels > out_channels:
                parts.append(self._resized(_convolved(standard, rows), height, width))
            else:
                joined.append(self._resized(standard, height, width))
                joined_rows.append(rows)
        if joined:
            parts.append(_convolved(tf.concat(joined, axis=-1), tf.concat(joined_rows, 0)))
        return tf.add_n(parts) + bias

    def _predict(self, hidden):
        for index in range(2, len(self.weights), 2):
            hidden = tf.nn.relu(hidden)
            kernel, bias = self.weights[index], self.weights[index + 1]
            hidden = _convolved(hidden, kernel) + bias
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
