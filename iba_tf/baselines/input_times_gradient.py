"""Input times gradient (Shrikumar et al.)."""
from .gradient import Gradient

__all__ = ["InputTimesGradient"]


class InputTimesGradient(Gradient):
    """Input times gradient: ``X * dy/dX``; arguments as for :class:`~.gradient.Gradient`.

    Example:
        >>> InputTimesGradient(model).analyze(x[:4]).shape == x[:4].shape
        True
    """

    def __init__(self, model, neuron_selection_mode="max_activation", batch_size=64,
                 session=None, **kwargs):
        super().__init__(model, neuron_selection_mode, None, batch_size, session, **kwargs)

    def analyze(self, X, neuron_selection=None):
        """Returns ``X * gradient`` for each sample of ``X`` (``X.shape``)."""
        X = self._check_X(X)
        return X * self._gradients(X, self._selection(X, neuron_selection))
