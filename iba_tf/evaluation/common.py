"""What every check shares: calling an analyzer, turning its output into 2-D maps, scoring.

Any object with innvestigate's calling convention works: ``analyzer.analyze(X)`` or, when its
``_neuron_selection_mode`` is ``"index"``, ``analyzer.analyze(X, neuron_selection=targets)``;
it may return ``X``-shaped arrays (innvestigate, :mod:`iba_tf.baselines`) or ``(N, H, W)`` maps
(:class:`iba_tf.IBACopyInnvestigate` with ``output="saliency"``).
"""
import time

import numpy as np

from ..checks import check_targets

__all__ = ["explain", "timed_explain", "to_maps", "model_outputs", "target_scores",
           "default_targets", "selection_mode"]

SCORES = ("logit", "probability")
REDUCTIONS = ("sum", "mean", "max")


def selection_mode(analyzer):
    """Returns the analyzer's neuron selection mode (None when it has none)."""
    return getattr(analyzer, "_neuron_selection_mode", None)


def explain(analyzer, X, targets=None):
    """Runs ``analyzer`` on ``X`` for ``targets`` with innvestigate's calling convention.

    Analyzers in ``"index"`` mode get ``neuron_selection=targets`` (then ``targets`` is
    required); the others (``"max_activation"``) explain their own top output and ``targets``
    is not passed.

    Returns:
        np.ndarray: what the analyzer returns, as an array.
    """
    if not hasattr(analyzer, "analyze"):
        raise TypeError("analyzer must have an analyze(X, neuron_selection=None) method "
                        "(innvestigate's API), got {!r}.".format(type(analyzer).__name__))
    if selection_mode(analyzer) == "index":
        if targets is None:
            raise ValueError("The analyzer uses neuron_selection_mode='index': give the "
                             "targets (one class per sample).")
        return np.asarray(analyzer.analyze(X, neuron_selection=np.asarray(targets)))
    return np.asarray(analyzer.analyze(X))


def timed_explain(analyzer, X, targets=None):
    """Like :func:`explain`; also returns the wall-clock seconds per sample."""
    start = time.perf_counter()
    result = explain(analyzer, X, targets)
    return result, (time.perf_counter() - start) / float(len(X))


def to_maps(attributions, X_shape, reduce="sum", absolute=False):
    """Turns attributions into one 2-D map per sample, ``(N, H, W)`` float64.

    Args:
        attributions (np.ndarray): ``X``-shaped ``(N, H, W, C)`` (channels last) or already
            ``(N, H, W)``.
        X_shape (tuple): the shape of the explained batch.
        reduce (str): how channels are combined: ``"sum"`` (default), ``"mean"`` or ``"max"``.
        absolute (bool): take the absolute value before combining (for gradients, whose sign
            says which direction raises the score, not whether a pixel matters).

    Example:
        >>> to_maps(np.ones((2, 8, 8, 3)), (2, 8, 8, 3)).shape
        (2, 8, 8)
    """
    attributions = np.asarray(attributions, dtype=np.float64)
    X_shape = tuple(X_shape)
    if reduce not in REDUCTIONS:
        raise ValueError("reduce={!r} is invalid: use one of {}.".format(reduce, REDUCTIONS))
    if len(X_shape) != 4:
        raise ValueError("The checks need image batches (N, H, W, C), got X of shape {}."
                         .format(X_shape))
    if absolute:
        attributions = np.abs(attributions)
    if attributions.shape == X_shape:
        return getattr(np, reduce)(attributions, axis=-1)
    if attributions.shape == X_shape[:-1]:
        return attributions
    raise ValueError("The attributions have shape {}; expected the inputs' shape {} or {}."
                     .format(attributions.shape, X_shape, X_shape[:-1]))


def model_outputs(model, X, batch_size=256):
    """Returns the model's outputs for ``X`` as ``(N, K)``; ``model`` may be a callable."""
    if hasattr(model, "predict"):
        out = model.predict(X, batch_size=batch_size)
    elif callable(model):
        out = np.concatenate([np.asarray(model(X[i:i + batch_size]))
                              for i in range(0, len(X), batch_size)])
    else:
        raise TypeError("model must be a keras Model or a callable X -> outputs, got {!r}."
                        .format(type(model).__name__))
    return np.asarray(out, dtype=np.float64).reshape(len(X), -1)


def _softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def target_scores(model, X, targets, score="logit", batch_size=256):
    """Returns each sample's score of its target class, ``(N,)``.

    Args:
        model: a keras Model with a logits output, or a callable ``X -> outputs``.
        X (np.ndarray): inputs.
        targets (np.ndarray): one class per sample.
        score (str): ``"logit"``: the model's output as it is; ``"probability"``: the softmax
            of the outputs (so the model must output logits).
    """
    if score not in SCORES:
        raise ValueError("score={!r} is invalid: use 'logit' or 'probability'.".format(score))
    out = model_outputs(model, X, batch_size)
    if score == "probability":
        out = _softmax(out)
    targets = np.asarray(targets).reshape(-1)
    return out[np.arange(len(X)), targets]


def default_targets(model, X, targets=None, batch_size=256):
    """Returns ``targets`` as an int array, or the model's predicted classes when None.

    Raises:
        ValueError: unless ``targets`` are integer classes in range, one or one per sample.
    """
    if targets is None:
        return model_outputs(model, X, batch_size).argmax(axis=1)
    outputs = model_outputs(model, X[:1], batch_size)
    return check_targets(targets, len(X), outputs.shape[-1], name="targets")
