"""Seeded Gaussian noise: the floor every attribution method should beat."""
import numpy as np

from .base import TFAnalyzer

__all__ = ["Random"]


class Random(TFAnalyzer):
    """Gaussian noise of ``X.shape``: the baseline every attribution method should beat.

    innvestigate's Random is no such baseline: it applies a GaussianNoise layer to the input
    and so returns ``X + noise``, which ranks bright pixels first (on MNIST digits it scores
    like a real attribution in the degradation test). Here the noise does not depend on
    ``X``; it comes from a numpy generator seeded at construction, so a run is repeatable.
    Every call draws new noise.

    Args:
        model (keras.Model): the model (only its input shape is used).
        neuron_selection_mode (str): accepted for the common API; the noise ignores it.
        stddev (float): standard deviation of the noise.
        seed (int): seed of the generator.

    Example:
        >>> Random(model, seed=0).analyze(x[:2]).shape == x[:2].shape
        True
    """

    def __init__(self, model, neuron_selection_mode="max_activation", stddev=1., seed=0,
                 **kwargs):
        from ..tensorflow_v1.compat import keras, tf_keras
        if not isinstance(model, (keras.models.Model, tf_keras.models.Model)):
            raise TypeError("Random needs a keras Model (keras or tf.keras), got {!r}.".format(type(model).__name__))
        super().__init__(model, neuron_selection_mode, **kwargs)
        self._stddev = float(stddev)
        self._rng = np.random.RandomState(seed)

    def analyze(self, X, neuron_selection=None):
        """Returns noise of ``X.shape`` (``neuron_selection`` is checked, then ignored)."""
        X = self._check_X(X)
        self._selection(X, neuron_selection)
        return self._rng.normal(0., self._stddev, size=X.shape).astype(np.float32)
