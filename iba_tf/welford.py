"""Running estimates of a feature map's per-neuron mean, standard deviation and activity.

Framework free (numpy only): the TensorFlow and the PyTorch estimators feed their features into
:class:`WelfordEstimator`.
"""
import numbers

import numpy as np

__all__ = ["WelfordEstimator"]

_STATE_KEYS = ("n", "mean", "m2", "nonzero")


class WelfordEstimator:
    """Estimates per-neuron mean, standard deviation and activity of a stream of feature maps.

    Each call to :meth:`fit` merges a whole batch at once with Chan et al.'s parallel update of
    Welford's algorithm: the batch's own mean and sum of squared deviations are computed first
    (in float64), then combined with the running ones. This is exact up to rounding and stays
    accurate for features whose mean is large compared to their spread.

    The shape of a neuron map is taken from the first batch; later batches must match it.

    Example:
        >>> estimator = WelfordEstimator()
        >>> for batch in (np.random.randn(10, 8, 8, 4) for _ in range(5)):
        ...     estimator.fit(batch)
        >>> estimator.n_samples()
        50
        >>> estimator.mean().shape, estimator.std().shape
        ((8, 8, 4), (8, 8, 4))
    """

    def __init__(self):
        self.reset()

    def reset(self):
        """Forgets every sample seen so far."""
        self._n = 0
        self._mean = None
        self._m2 = None
        self._nonzero = None

    @property
    def shape(self):
        """The shape of one sample's neuron map, or None before the first :meth:`fit`."""
        return None if self._mean is None else self._mean.shape

    def fit(self, x):
        """Updates the estimates with a batch ``x`` of shape ``(batch, *neuron_shape)``.

        Returns:
            self, so that calls can be chained.
        """
        return self.update(x)

    def update(self, x):
        """Merges the batch ``x`` (first axis: samples) into the running estimates.

        This is the numpy update behind :meth:`fit`; subclasses whose ``fit`` takes model inputs
        instead of feature values call it with the feature values.
        """
        x = np.asarray(x)
        if x.ndim < 1 or x.shape[0] == 0:
            raise ValueError(
                "WelfordEstimator.fit expects a batch with the samples on the first axis and at "
                "least one sample; got an array of shape {}.".format(x.shape))
        if self._mean is not None and x.shape[1:] != self._mean.shape:
            raise ValueError(
                "WelfordEstimator.fit got samples of shape {}, but the estimator was fitted on "
                "samples of shape {}; call reset() to start over with the new shape.".format(
                    x.shape[1:], self._mean.shape))
        x = x.astype(np.float64, copy=False)
        n_batch = x.shape[0]
        batch_mean = x.mean(axis=0)
        batch_m2 = np.square(x - batch_mean).sum(axis=0)
        batch_nonzero = np.count_nonzero(x, axis=0).astype(np.int64)
        if self._mean is None:
            self._n, self._mean, self._m2, self._nonzero = (
                n_batch, batch_mean, batch_m2, batch_nonzero)
            return self
        n_total = self._n + n_batch
        delta = batch_mean - self._mean
        self._mean = self._mean + delta * (n_batch / n_total)
        self._m2 = self._m2 + batch_m2 + np.square(delta) * (self._n * n_batch / n_total)
        self._nonzero = self._nonzero + batch_nonzero
        self._n = n_total
        return self

    def n_samples(self):
        """Returns the number of samples seen."""
        return self._n

    def _require(self, n_min, what):
        if self._n < n_min:
            raise RuntimeError(
                "WelfordEstimator.{}() needs at least {} sample(s), but {} were fitted; call "
                "fit() with (more) feature maps first.".format(what, n_min, self._n))

    def mean(self):
        """Returns the per-neuron mean (float64 array of the neuron shape)."""
        self._require(1, "mean")
        return self._mean.copy()

    def std(self):
        """Returns the per-neuron sample standard deviation (``ddof=1``)."""
        self._require(2, "std")
        return np.sqrt(self._m2 / (self._n - 1))

    def active_neurons(self, threshold=0.01):
        """Returns a boolean mask: True where ``count(x != 0) / n_samples > threshold``."""
        self._require(1, "active_neurons")
        return (self._nonzero / self._n) > threshold

    def state_dict(self):
        """Returns the internal state as a dict of numpy arrays and ints (picklable).

        Restore it with :meth:`load_state_dict`.
        """
        if self._mean is None:
            return {"n": 0, "mean": None, "m2": None, "nonzero": None}
        return {"n": int(self._n), "mean": self._mean.copy(), "m2": self._m2.copy(),
                "nonzero": self._nonzero.copy()}

    def load_state_dict(self, state):
        """Restores a state returned by :meth:`state_dict`, exactly.

        Raises:
            ValueError: if ``state`` is not such a dict or its arrays disagree in shape.
        """
        state = validate_state(state)
        if state["n"] == 0:
            self.reset()
            return self
        self._n = state["n"]
        self._mean = np.array(state["mean"], dtype=np.float64)
        self._m2 = np.array(state["m2"], dtype=np.float64)
        self._nonzero = np.array(state["nonzero"], dtype=np.int64)
        return self


def validate_state(state):
    """Checks an estimator state dict and returns it; raises ValueError naming what is wrong."""
    if not isinstance(state, dict) or any(key not in state for key in _STATE_KEYS):
        raise ValueError(
            "An estimator state must be a dict with the keys {}, as returned by "
            "state_dict(); got {!r}.".format(_STATE_KEYS, type(state).__name__ if not isinstance(
                state, dict) else sorted(state)))
    n = state["n"]
    if not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError("The estimator state's 'n' must be a non-negative int; got {!r}.".format(n))
    if n > 0:
        shapes = {key: np.shape(state[key]) for key in ("mean", "m2", "nonzero")}
        if len(set(shapes.values())) != 1:
            raise ValueError(
                "The estimator state's arrays disagree in shape: {}.".format(shapes))
    return state
