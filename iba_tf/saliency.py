"""Conversion of bottleneck capacities (nats per neuron) to saliency maps (bits per pixel)."""
import sys

import numpy as np
import scipy.ndimage

__all__ = ["to_saliency_map"]


def _default_data_format():
    keras = sys.modules.get("keras")
    if keras is not None:
        return keras.backend.image_data_format()
    return "channels_last"


def to_saliency_map(capacity, shape=None, data_format=None):
    """Converts a capacity map (nats per neuron) to a saliency map (bits per pixel).

    The capacity is summed over channels, converted from nats to bits, and resized to ``shape``
    with bilinear interpolation (pixel centres aligned, edges held). The values are scaled by
    ``feature_pixels / output_pixels`` so that the map's total number of bits is kept.

    Args:
        capacity (np.ndarray): capacity of one sample, ``(h, w, c)`` for image features
            (``(c, h, w)`` with ``channels_first``) or ``(t, c)`` for sequence features.
        shape (tuple): ``(height, width)`` of the input image, or ``(length,)`` for sequences.
            None keeps the feature map's spatial size.
        data_format (str): ``"channels_last"`` or ``"channels_first"``. None uses Keras'
            ``image_data_format()`` when Keras is loaded, else ``"channels_last"``.

    Returns:
        np.ndarray: the saliency map of shape ``shape`` in bits per pixel.

    Example:
        >>> capacity = np.ones((7, 7, 512))            # nats per neuron
        >>> saliency = to_saliency_map(capacity, (224, 224))
        >>> saliency.shape
        (224, 224)
    """
    capacity = np.asarray(capacity, dtype=np.float64)
    data_format = data_format or _default_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError("data_format must be 'channels_last' or 'channels_first', got {!r}."
                         .format(data_format))
    if capacity.ndim < 2:
        raise ValueError(
            "to_saliency_map needs a capacity with spatial axes and a channel axis, e.g. "
            "(h, w, c) or (t, c); got shape {}. Dense features have no spatial layout: sum the "
            "capacity instead.".format(capacity.shape))
    channel_axis = -1 if data_format == "channels_last" else 0
    bits = capacity.sum(axis=channel_axis) / np.log(2)
    if shape is None:
        return bits
    shape = tuple(int(s) for s in shape)
    if len(shape) != bits.ndim:
        raise ValueError(
            "shape {} has {} axes, but the capacity of shape {} has {} spatial axes ({})."
            .format(shape, len(shape), capacity.shape, bits.ndim, data_format))
    if shape == bits.shape:
        return bits
    zoom = [out / float(size) for out, size in zip(shape, bits.shape)]
    resized = scipy.ndimage.zoom(bits, zoom, order=1, mode="nearest", grid_mode=True)
    return resized * (bits.size / float(resized.size))
