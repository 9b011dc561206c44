"""Running estimates of a feature map's per-neuron mean, standard deviation and activity.

Framework free (numpy only): the TensorFlow and the PyTorch estimators feed their features into
:class:`WelfordEstimator`.
"""
import numbers
import os
from concurrent.futures import ThreadPoolExecutor

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
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise ValueError("WelfordEstimator.fit expects a numeric array, got dtype {}."
                             .format(x.dtype))
        if x.ndim < 1 or x.shape[0] == 0:
            raise ValueError(
                "WelfordEstimator.fit expects a batch with the samples on the first axis and at "
                "least one sample; got an array of shape {}.".format(x.shape))
        if self._mean is not None and x.shape[1:] != self._mean.shape:
            raise ValueError(
                "WelfordEstimator.fit got samples of shape {}, but the estimator was fitted on "
                "samples of shape {}; call reset() to start over with the new shape.".format(
                    x.shape[1:], self._mean.shape))
        first = self._mean is None
        if first:
            self._mean = np.zeros(x.shape[1:])
            self._m2 = np.zeros(x.shape[1:])
            self._nonzero = np.zeros(x.shape[1:], np.int64)
            # the first sample is the shift of the first batch: close to the mean
            shift = x[0].astype(np.float64)
        else:
            shift = self._mean
        try:
            _merge_batch(x, shift, self._n, self._mean, self._m2, self._nonzero)
        except ValueError:
            if first:       # a refused first batch leaves the estimator empty
                self.reset()
            raise
        self._n += x.shape[0]
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


# Work is split into tiles of neurons (columns) x rows small enough to stay in the CPU cache;
# the tiles of neurons are spread over threads (numpy releases the GIL in its loops).
_TILE_NEURONS = 1 << 15
_TILE_ROWS = 16          # also keeps the uint8 non-zero counts of a block below 256
_POOL = None


def _thread_pool():
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1))
    return _POOL


def _merge_batch(x, shift, n_seen, mean, m2, nonzero):
    """Merges the batch ``x`` into ``mean``, ``m2`` and ``nonzero`` of ``n_seen`` samples.

    Per tile of neurons: sums of ``x - shift`` and of its square (the shift, close to the mean,
    keeps them small and accurate). Once every tile is summed and found finite, Chan et al.'s
    merge of the batch's mean and sum of squared deviations with the running ones, in place;
    a batch with NaN or inf changes nothing.

    Raises:
        ValueError: if ``x`` holds NaN or inf.
    """
    n_batch = x.shape[0]
    n_total = n_seen + n_batch
    dtype = np.float32 if x.dtype in (np.float16, np.float32) else np.float64
    flat = x.reshape(n_batch, -1)
    shift_c = np.array(shift).reshape(-1).astype(dtype)
    # the deviations are taken from the rounded shift: add back that one, not the exact one
    shift = shift_c.astype(np.float64)
    mean, m2, nonzero = mean.reshape(-1), m2.reshape(-1), nonzero.reshape(-1)

    def sum_tile(start):
        cols = slice(start, start + _TILE_NEURONS)
        total = np.zeros(len(shift[cols]))
        total_sq = np.zeros_like(total)
        count = np.zeros(len(total), np.int64)
        for row in range(0, n_batch, _TILE_ROWS):
            block = flat[row:row + _TILE_ROWS, cols]
            deviation = block.astype(dtype, copy=False) - shift_c[cols]
            # einsum sums over rows in one pass; on a uint8 view of the mask it is several
            # times faster than count_nonzero.
            total += np.einsum("ij->j", deviation)
            total_sq += np.einsum("ij,ij->j", deviation, deviation)
            count += np.einsum("ij->j", (block != 0).view(np.uint8))
        return cols, total, total_sq, count

    starts = range(0, flat.shape[1], _TILE_NEURONS)
    tiles = [sum_tile(0)] if len(starts) == 1 else list(_thread_pool().map(sum_tile, starts))
    # NaN and inf propagate into the sums of squares (inf - inf is NaN)
    if not all(np.isfinite(tile[2]).all() for tile in tiles):
        bad = np.size(x) - np.count_nonzero(np.isfinite(x))
        raise ValueError(
            "WelfordEstimator.fit got {} NaN/inf value(s) (or values too large to square): "
            "nothing was added; fit finite feature maps only.".format(bad))
    for cols, total, total_sq, count in tiles:
        batch_mean = shift[cols] + total / n_batch
        batch_m2 = np.maximum(total_sq - np.square(total) / n_batch, 0.)
        delta = batch_mean - mean[cols]
        mean[cols] += delta * (n_batch / n_total)
        m2[cols] += batch_m2 + np.square(delta) * (n_seen * n_batch / n_total)
        nonzero[cols] += count


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
        arrays = {key: np.asarray(state[key]) for key in ("mean", "m2", "nonzero")}
        shapes = {key: value.shape for key, value in arrays.items()}
        if len(set(shapes.values())) != 1:
            raise ValueError(
                "The estimator state's arrays disagree in shape: {}.".format(shapes))
        for key, value in arrays.items():
            if not np.issubdtype(value.dtype, np.number) or not np.isfinite(value).all():
                raise ValueError("The estimator state's {!r} must be a finite numeric array "
                                 "(dtype {}).".format(key, value.dtype))
    return state
