"""TorchWelfordEstimator: the numpy :class:`~iba_tf.welford.WelfordEstimator` as a torch module."""
import numbers

import numpy as np
import torch
from torch import nn

from ..welford import WelfordEstimator

__all__ = ["TorchWelfordEstimator"]

# torch dtypes that numpy cannot hold; they are converted to float32 before the update
_NON_NUMPY_DTYPES = (torch.bfloat16,)


class TorchWelfordEstimator(nn.Module):
    """Estimates per-neuron mean, standard deviation and activity of feature maps in torch.

    A thin module around the framework-free :class:`~iba_tf.welford.WelfordEstimator` (the one
    the TensorFlow port uses): calling it on a batch ``x`` (samples on the first axis) merges
    ``x`` into the running estimates and returns ``x`` unchanged, so it can sit inside a model.
    The estimates come back as CPU tensors (float64 for mean and std, bool for the activity).

    Args:
        *shape (int): optional shape of one sample, e.g. ``3, 64, 64``; when given, every batch
            is checked against it. Without it the shape is taken from the first batch.
        estimator (WelfordEstimator): an existing numpy estimator to wrap (its samples are
            kept); None creates an empty one.

    Its state (sample count, mean, sum of squared deviations, non-zero counts) is part of
    ``state_dict()`` as tensors, so ``torch.save`` / ``torch.load(weights_only=True)`` keep it.

    Example:
        >>> batch_generator = (torch.randn(10, 3, 64, 64) for _ in range(5))
        >>> estimator = TorchWelfordEstimator(3, 64, 64)
        >>> for batch in batch_generator:
        ...     _ = estimator(batch)
        >>> estimator.n_samples()
        50
        >>> estimator.mean().shape, estimator.std().shape
        (torch.Size([3, 64, 64]), torch.Size([3, 64, 64]))
        >>> mask = estimator.active_neurons()        # bool, True where non-zero in > 1%
    """

    def __init__(self, *shape, estimator=None):
        super().__init__()
        for dim in shape:
            if not isinstance(dim, numbers.Integral) or isinstance(dim, bool) or dim < 1:
                raise ValueError("TorchWelfordEstimator's shape must be positive ints, e.g. "
                                 "TorchWelfordEstimator(3, 64, 64); got {!r}.".format(shape))
        if estimator is not None and not isinstance(estimator, WelfordEstimator):
            raise TypeError("estimator must be an iba_tf.WelfordEstimator or None, got {!r}."
                            .format(type(estimator).__name__))
        self._expected_shape = tuple(int(dim) for dim in shape) or None
        self._welford = estimator if estimator is not None else WelfordEstimator()
        if self._expected_shape and self._welford.shape not in (None, self._expected_shape):
            raise ValueError("The wrapped estimator was fitted on samples of shape {}, not {}."
                             .format(self._welford.shape, self._expected_shape))

    @property
    def welford(self):
        """The numpy :class:`~iba_tf.welford.WelfordEstimator` that holds the estimates."""
        return self._welford

    @property
    def shape(self):
        """The shape of one sample, or None before the first batch (and without ``*shape``)."""
        return self._welford.shape or self._expected_shape

    def forward(self, x):
        """Merges the batch ``x`` (first axis: samples) into the estimates; returns ``x``."""
        if not torch.is_tensor(x):
            raise TypeError("TorchWelfordEstimator expects a torch.Tensor batch, got {!r}."
                            .format(type(x).__name__))
        if self._expected_shape is not None and tuple(x.shape[1:]) != self._expected_shape:
            raise ValueError("TorchWelfordEstimator was created for samples of shape {}, but got "
                             "a batch of shape {}.".format(self._expected_shape, tuple(x.shape)))
        values = x.detach().cpu()
        if values.dtype in _NON_NUMPY_DTYPES:
            values = values.float()
        self._welford.update(values.numpy())
        return x

    def n_samples(self):
        """Returns the number of samples seen."""
        return self._welford.n_samples()

    def mean(self):
        """Returns the per-neuron mean as a float64 CPU tensor."""
        return torch.from_numpy(self._welford.mean())

    def std(self):
        """Returns the per-neuron sample standard deviation (``ddof=1``) as a float64 tensor."""
        return torch.from_numpy(self._welford.std())

    def active_neurons(self, threshold=0.01):
        """Returns a bool tensor: True where ``n_nonzero / n_samples > threshold``."""
        return torch.from_numpy(self._welford.active_neurons(threshold))

    def reset(self):
        """Forgets every sample seen so far."""
        self._welford.reset()

    def get_extra_state(self):
        """Returns the estimator's state as tensors (used by ``state_dict()``)."""
        state = self._welford.state_dict()
        return {key: (torch.from_numpy(np.asarray(value)) if isinstance(value, np.ndarray)
                      else value) for key, value in state.items()}

    def set_extra_state(self, state):
        """Restores a state from :meth:`get_extra_state` (used by ``load_state_dict()``)."""
        if not isinstance(state, dict):
            raise ValueError("A TorchWelfordEstimator state must be a dict, as stored by "
                             "state_dict(); got {!r}.".format(type(state).__name__))
        state = {key: (value.cpu().numpy() if torch.is_tensor(value) else value)
                 for key, value in state.items()}
        self._welford.load_state_dict(state)
        if self._expected_shape and self._welford.shape not in (None, self._expected_shape):
            shape = self._welford.shape
            self._welford.reset()
            raise ValueError("The loaded estimator state holds samples of shape {}, but this "
                             "estimator was created for {}.".format(shape, self._expected_shape))

    def extra_repr(self):
        """Returns the shape and sample count that ``repr(estimator)`` shows."""
        return "shape={}, n_samples={}".format(self.shape, self.n_samples())
