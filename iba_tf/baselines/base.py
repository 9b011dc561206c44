"""What the baseline analyzers share: the model checks, neuron selection, batching, no-op fit.

The one place where the baselines check for a softmax output (:func:`check_model`).
"""
import numpy as np

__all__ = ["MODES", "TFAnalyzer", "check_model", "check_mode"]

#: innvestigate's neuron selection modes.
MODES = ("max_activation", "index", "all")
# innvestigate keyword arguments that need no work here (the model checks they switch off do
# not exist in this package)
_IGNORED_KWARGS = ("disable_model_checks", "allow_lambda_layers")


def check_model(model, what):
    """Raises unless ``model`` is a keras Model with one input and one logits output.

    Args:
        model: the model to check.
        what (str): who asks (named in the messages), e.g. ``"Gradient"``.
    """
    from ..tensorflow_v1.compat import keras, require_graph_mode, tf_keras
    from ..tensorflow_v1.models import is_softmax
    require_graph_mode(what)
    if not isinstance(model, (keras.models.Model, tf_keras.models.Model)):
        raise TypeError("{} needs a keras Model (keras or tf.keras), got {!r}.".format(
            what, type(model).__name__))
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError("{} explains models with one input and one output; {} has {} input(s) "
                         "and {} output(s).".format(what, model.name, len(model.inputs),
                                                    len(model.outputs)))
    if is_softmax(model):
        raise ValueError("The model {} ends with a softmax; {} explains the logits. Use "
                         "iba_tf.model_wo_softmax(model).".format(model.name, what))


def check_mode(mode):
    """Raises unless ``mode`` is one of :data:`MODES`."""
    if mode not in MODES:
        raise ValueError("neuron_selection_mode={!r} is invalid: use 'max_activation', 'index' or "
                         "'all'.".format(mode))


def _targets(neuron_selection, n_samples, n_outputs):
    """``neuron_selection`` (an int or one per sample) as one int32 per sample, checked."""
    targets = np.asarray(neuron_selection).reshape(-1) if np.ndim(neuron_selection) else \
        np.full(n_samples, int(neuron_selection))
    if targets.size == 1:
        targets = np.full(n_samples, int(targets[0]))
    if len(targets) != n_samples:
        raise ValueError("neuron_selection has {} entries for {} samples: give one int or "
                         "one per sample.".format(len(targets), n_samples))
    bad = [int(t) for t in targets if not 0 <= t < n_outputs]
    if bad:
        raise ValueError("neuron_selection {} out of range: the model has {} outputs."
                         .format(bad, n_outputs))
    return targets.astype(np.int32)


class TFAnalyzer:
    """Base of the baselines: the model checks, neuron selection, batching and the no-op fit.

    Args:
        model (keras.Model): the explained model.
        neuron_selection_mode (str): one of :data:`MODES`.
        batch_size (int): rows per session run.
        session (tf.Session): the model's session; None uses the default (or Keras') session.
        **kwargs: innvestigate keywords that need no work here (``disable_model_checks``,
            ``allow_lambda_layers``); any other raises a TypeError.
    """

    def __init__(self, model, neuron_selection_mode="max_activation", batch_size=64,
                 session=None, **kwargs):
        from ..tensorflow_v1.compat import require_graph_mode
        require_graph_mode(type(self).__name__)
        unknown = sorted(set(kwargs) - set(_IGNORED_KWARGS))
        if unknown:
            raise TypeError("{} got unexpected keyword argument(s) {}.".format(
                type(self).__name__, ", ".join(unknown)))
        check_mode(neuron_selection_mode)
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError("batch_size must be an int >= 1, got {!r}.".format(batch_size))
        self._model = model
        self._neuron_selection_mode = neuron_selection_mode
        self._batch_size = int(batch_size)
        self._session = session

    # innvestigate's analyzers have fit and fit_generator; these methods need no training
    def fit(self, *args, **kwargs):
        """Does nothing: the method needs no training (kept for innvestigate's API)."""

    def fit_generator(self, *args, **kwargs):
        """Does nothing: the method needs no training (kept for innvestigate's API)."""

    @property
    def model(self):
        """The explained model."""
        return self._model

    def _n_outputs(self):
        return int(np.prod(self._model.output_shape[1:]))

    def _check_X(self, X):
        X = np.asarray(X, dtype=np.float32)
        expected = self._model.input_shape[1:]
        if X.ndim != len(expected) + 1 or len(X) == 0 or any(
                e is not None and e != s for e, s in zip(expected, X.shape[1:])):
            raise ValueError("X must be a batch of samples of shape {} (the model's input without "
                             "the batch axis), got {}.".format(expected, X.shape))
        return X

    def _selection(self, X, neuron_selection):
        """One output index per sample, or None for 'max_activation' / 'all'."""
        mode = self._neuron_selection_mode
        if mode != "index":
            if neuron_selection is not None:
                raise ValueError("neuron_selection is only used with neuron_selection_mode="
                                 "'index'; this analyzer uses {!r}.".format(mode))
            return None
        if neuron_selection is None:
            raise ValueError("neuron_selection_mode 'index' needs neuron_selection: the output "
                             "to explain, an int or one per sample.")
        return _targets(neuron_selection, len(X), self._n_outputs())

    def _run_session(self):
        from ..tensorflow_v1.session import resolve_session
        with self._model.output.graph.as_default():
            return resolve_session(self._session)

    def __repr__(self):
        return "{}(model={!r}, neuron_selection_mode={!r})".format(
            type(self).__name__, self._model.name, self._neuron_selection_mode)
