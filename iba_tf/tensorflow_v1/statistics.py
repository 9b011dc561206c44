"""The feature statistics a bottleneck needs: per-neuron mean, std and activity."""
import numpy as np

from ..welford import WelfordEstimator

__all__ = ["FeatureStatistics"]


class FeatureStatistics:
    """Where a bottleneck's mean, std and active flags come from.

    Either fixed arrays (``feature_mean`` and ``feature_std``, optionally ``feature_active``)
    or an estimator that ``fit`` fills.

    Args:
        estimator (WelfordEstimator): None creates an empty one.
        feature_mean, feature_std, feature_active (np.ndarray): fixed statistics.
    """

    def __init__(self, estimator=None, feature_mean=None, feature_std=None, feature_active=None):
        if estimator is not None and (feature_mean is not None or feature_std is not None):
            raise ValueError("Give either an estimator or feature_mean/feature_std, not both.")
        if (feature_mean is None) != (feature_std is None):
            raise ValueError("feature_mean and feature_std must be given together.")
        self.estimator = estimator if estimator is not None else WelfordEstimator()
        self.feature_mean = None if feature_mean is None else np.asarray(feature_mean)
        self.feature_std = None if feature_std is None else np.asarray(feature_std)
        self.feature_active = None if feature_active is None else np.asarray(feature_active)

    def arrays(self, feature_shape):
        """Returns (mean, std, active) as float32 arrays, checked against ``feature_shape``.

        Raises:
            RuntimeError: if there are no statistics yet.
            ValueError: for a shape that does not fit or non-finite values.
        """
        if self.feature_mean is not None:
            mean, std = self.feature_mean, self.feature_std
            active = self.feature_active if self.feature_active is not None else np.ones_like(
                mean)
            origin = "feature_mean/feature_std"
        elif self.estimator.n_samples() >= 2:
            mean, std = self.estimator.mean(), self.estimator.std()
            active = self.feature_active if self.feature_active is not None else \
                self.estimator.active_neurons()
            origin = "the estimator"
        else:
            raise RuntimeError(
                "The bottleneck has no feature statistics ({} sample(s) fitted): call fit(...) "
                "or fit_generator(...) with at least 2 samples first, or pass feature_mean and "
                "feature_std.".format(self.estimator.n_samples()))
        for name, value in (("mean", mean), ("std", std), ("active", active)):
            _check_array(name, value, origin, feature_shape)
        return (np.asarray(mean, np.float32), np.asarray(std, np.float32),
                np.asarray(active, np.float32))

    def state_dict(self):
        """Returns the statistics as a picklable dict."""
        return dict(estimator=self.estimator.state_dict(), feature_mean=self.feature_mean,
                    feature_std=self.feature_std, feature_active=self.feature_active)

    def check_state(self, state, feature_shape):
        """Raises ValueError if ``state`` (from :meth:`state_dict`) does not fit the shape."""
        for name in ("feature_mean", "feature_std", "feature_active"):
            if state[name] is not None and np.shape(state[name]) != feature_shape:
                raise ValueError("The state's {} has shape {}, but this bottleneck's feature has "
                                 "shape {}.".format(name, np.shape(state[name]), feature_shape))
        estimator = state["estimator"]
        if estimator["n"] and np.shape(estimator["mean"]) != feature_shape:
            raise ValueError("The state's estimator was fitted on features of shape {}, but this "
                             "bottleneck's feature has shape {}.".format(
                                 np.shape(estimator["mean"]), feature_shape))

    def load_state_dict(self, state):
        """Restores :meth:`state_dict`'s output (checked by the caller)."""
        self.estimator.load_state_dict(state["estimator"])
        self.feature_mean = state["feature_mean"]
        self.feature_std = state["feature_std"]
        self.feature_active = state["feature_active"]


def _check_array(name, value, origin, feature_shape):
    if np.shape(value) != feature_shape:
        raise ValueError(
            "The feature {} from {} has shape {}, but the feature map at this layer has "
            "shape {}.".format(name, origin, np.shape(value), feature_shape))
    bad = np.size(value) - np.count_nonzero(np.isfinite(value))
    if bad:
        raise ValueError(
            "The feature {} from {} has {} NaN/inf value(s): the model produced "
            "non-finite features; reset the estimator and fit it on valid inputs."
            .format(name, origin, bad))
