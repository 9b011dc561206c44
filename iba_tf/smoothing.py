"""The Gaussian blur of lambda as a matrix per spatial axis (framework free)."""
import numpy as np
import scipy.ndimage

__all__ = ["smoothing_matrix", "SMOOTHING_TRUNCATE"]

#: Kernels are cut at this many standard deviations (scipy.ndimage's default).
SMOOTHING_TRUNCATE = 4.0


def smoothing_matrix(size, std):
    """Returns the ``(size, size)`` matrix that Gaussian-blurs a signal of length ``size``.

    Row ``i`` holds the weights output ``i`` gives to each input, for a kernel of standard
    deviation ``std`` with reflect padding; rows sum to 1. ``std == 0`` gives the identity.
    Blurring one axis is then a matrix product, which works for any std on any map size
    (the kernel may be wider than the map) and keeps the blur differentiable.
    """
    identity = np.eye(size, dtype=np.float64)
    if std == 0:
        return identity.astype(np.float32)
    blurred = scipy.ndimage.gaussian_filter1d(identity, std, axis=0, mode="reflect",
                                              truncate=SMOOTHING_TRUNCATE)
    return blurred.astype(np.float32)
