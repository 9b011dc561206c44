"""The feature statistics of the PyTorch bottleneck: per-neuron mean, std and activity.

They come either from arrays the user gives (``feature_mean`` and ``feature_std``) or from the
bottleneck's estimator; :class:`iba_tf.pytorch.IBA` keeps the result and a copy per device and
dtype of the features it sees.
"""
import numpy as np
import torch

__all__ = ["given_statistics", "load_statistics", "statistics_on"]


def _as_array(value, name):
    if torch.is_tensor(value):
        value = value.detach().cpu().double().numpy()
    value = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(value)):
        raise ValueError("IBA: {} has NaN/inf values.".format(name))
    return value


def given_statistics(feature_mean, feature_std):
    """Returns ``(mean, std)`` as float64 arrays of one shape, checked to be finite."""
    mean, std = _as_array(feature_mean, "feature_mean"), _as_array(feature_std, "feature_std")
    if mean.shape != std.shape:
        raise ValueError("IBA: feature_mean has shape {} but feature_std {}.".format(
            mean.shape, std.shape))
    return mean, std


def load_statistics(estimator, given, min_std, threshold):
    """Returns ``(mean, std, active)`` as CPU tensors, the std clamped to at least ``min_std``.

    Args:
        estimator (TorchWelfordEstimator): used when ``given`` is None; it needs 2 samples.
        given (tuple): ``(mean, std)`` from :func:`given_statistics` (all neurons active), or
            None.
        min_std (float): lower bound of the std.
        threshold (float): the estimator's activity threshold.
    """
    if given is not None:
        mean, std = given
        active = np.ones(mean.shape, dtype=bool)
    elif estimator.n_samples() >= 2:
        mean, std = estimator.welford.mean(), estimator.welford.std()
        active = estimator.welford.active_neurons(threshold)
    else:
        raise RuntimeError(
            "IBA has no feature statistics ({} sample(s) estimated): call "
            "iba.estimate(model, dataloader) first, or pass feature_mean and feature_std."
            .format(estimator.n_samples()))
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std))):
        raise ValueError("IBA: the estimated feature statistics have NaN/inf values: the "
                         "model produced non-finite features; call reset_estimate() and "
                         "estimate on valid inputs.")
    return (torch.from_numpy(mean).float(), torch.from_numpy(np.maximum(std, min_std)).float(),
            torch.from_numpy(np.asarray(active, dtype=bool)))


def statistics_on(stats, cache, x):
    """Returns ``stats`` on ``x``'s device and dtype, checked against ``x``'s shape.

    ``cache`` maps ``(device, dtype)`` to the converted statistics; it is filled here.
    """
    mean, std, active = stats
    if tuple(x.shape[1:]) != tuple(mean.shape):
        raise ValueError("IBA: the feature has shape {} per sample, but its statistics have "
                         "shape {}; estimate them again on this layer (reset_estimate / "
                         "estimate) or pass statistics of the right shape."
                         .format(tuple(x.shape[1:]), tuple(mean.shape)))
    key = (x.device, x.dtype)
    if key not in cache:
        cache[key] = (mean.to(device=x.device, dtype=x.dtype),
                      std.to(device=x.device, dtype=x.dtype), active.to(x.device))
    return cache[key]
