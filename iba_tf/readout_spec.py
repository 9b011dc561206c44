"""The framework-free parts of the Readout Bottleneck, shared by the TensorFlow and PyTorch ports.

The readout network's layer sizes and initial weights (so both ports start from the same
numbers for the same seed), the clip limit of alpha, and the conversion of a batch of
capacities to saliency maps. See ``shared/IBA_METHOD.md``, "The Readout Bottleneck".
"""
import functools

import numpy as np
import scipy.ndimage

__all__ = ["ALPHA_LIMIT", "FINAL_BIAS", "FINAL_SCALE", "layer_sizes", "initial_weights",
           "saliency_maps", "interpolation_matrix"]

#: alpha is clipped to ``[-ALPHA_LIMIT, ALPHA_LIMIT]``
ALPHA_LIMIT = 5.
#: the last convolution's initial bias: training starts from alpha = 5 (lambda ~ 1)
FINAL_BIAS = 5.
#: the last convolution's initial kernel is scaled by this (near zero)
FINAL_SCALE = 1e-3


def layer_sizes(in_channels, feature_channels):
    """Channels of the readout network's four activations (input, two hidden, alpha)."""
    return [in_channels, max(1, in_channels // 2), 2 * feature_channels, feature_channels]


def initial_weights(in_channels, feature_channels, seed=0):
    """The initial weights ``[kernel_1, bias_1, kernel_2, bias_2, kernel_3, bias_3]`` (numpy).

    Kernels ``(fan_in, fan_out)`` and biases are uniform in ``+-1 / sqrt(fan_in)`` (PyTorch's
    default for convolutions, as in the reference); the last kernel is scaled by 1e-3 and its
    bias is 5. Framework free, so the TensorFlow and PyTorch versions start alike (the PyTorch
    port transposes the kernels to ``(fan_out, fan_in, 1, 1)``).
    """
    rng = np.random.RandomState(seed)
    sizes = layer_sizes(in_channels, feature_channels)
    weights = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        bound = 1. / np.sqrt(fan_in)
        kernel = rng.uniform(-bound, bound, (fan_in, fan_out))
        bias = rng.uniform(-bound, bound, fan_out)
        if index == len(sizes) - 2:
            kernel, bias = kernel * FINAL_SCALE, np.full(fan_out, FINAL_BIAS)
        weights += [kernel.astype(np.float32), bias.astype(np.float32)]
    return weights


def saliency_maps(capacity, size, channel_axis=-1):
    """Bits per pixel at ``size`` for a batch of capacities (nats per neuron).

    Args:
        capacity (np.ndarray): ``(n, h, w, c)`` (``channel_axis=-1``) or ``(n, c, h, w)``
            (``channel_axis=1``).
        size (tuple): the input's ``(H, W)``.
        channel_axis (int): the axis summed over.

    Returns:
        np.ndarray: ``(n, H, W)``, resized bilinearly with the total bits kept, as
        :func:`~iba_tf.to_saliency_map` does for one map (``scipy.ndimage.zoom``, order 1).
        The zoom is linear and acts on each axis alone, so it is applied as two matrix
        products, ``rows @ bits @ columns.T``, with the matrices of the zoom along each axis.
    """
    bits = capacity.sum(channel_axis, dtype=np.float64) / np.log(2)
    if tuple(size) == bits.shape[1:]:
        return bits
    rows = interpolation_matrix(bits.shape[1], int(size[0]))
    columns = interpolation_matrix(bits.shape[2], int(size[1]))
    resized = np.matmul(np.matmul(rows, bits), columns.T)
    return resized * (bits[0].size / float(resized[0].size))


@functools.lru_cache(maxsize=64)
def interpolation_matrix(n, size):
    """The ``(size, n)`` matrix of ``scipy.ndimage.zoom``'s linear interpolation of ``n``
    values to ``size`` (``mode="nearest"``, ``grid_mode=True``): the zoom of each unit vector."""
    matrix = scipy.ndimage.zoom(np.eye(n), (size / float(n), 1.), order=1, mode="nearest",
                                grid_mode=True)
    matrix.setflags(write=False)
    return matrix
