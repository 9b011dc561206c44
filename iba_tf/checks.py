"""Checks shared by the whole package: finite values, class targets, and analysis results.

Each input check raises one :class:`~iba_tf.errors.InputError` (a ``ValueError``) that names
the bad value, what was expected and the fix, before any work is done. The result checks
raise a :class:`ResultError` instead of returning a map that explains nothing.
"""
import numbers

import numpy as np

from .errors import InputError

__all__ = ["ResultError", "NonFiniteResultError", "ClosedBottleneckError", "check_finite",
           "check_targets", "check_result", "check_not_closed"]


class ResultError(ValueError):
    """An analysis gave a result that is no explanation; raised instead of returning it."""


class NonFiniteResultError(ResultError):
    """An analysis gave NaN or inf (e.g. an optimisation that diverged for a huge beta)."""


class ClosedBottleneckError(ResultError):
    """An analysis closed the bottleneck completely: the map is exactly 0 everywhere.

    Adam moves alpha by about ``learning_rate`` per step, whatever the gradient's size. A
    learning rate far above 1 (``1e30``) sends alpha to about ``-learning_rate`` in the first
    step; there the sigmoid is exactly 0 and so is its gradient, and the optimisation cannot
    come back: every mask value stays 0 and the capacity is 0 everywhere.
    """


def _describe(array):
    return "{} NaN and {} inf".format(int(np.isnan(array).sum()), int(np.isinf(array).sum()))


def check_finite(value, name, fix="replace or drop the non-finite values"):
    """Raises InputError if the float array ``value`` holds NaN or inf; returns ``value``.

    Non-float values (ints, bools, strings, tensors) pass unchanged.
    """
    array = np.asarray(value) if not hasattr(value, "dtype") else value
    if isinstance(array, np.ndarray) and np.issubdtype(array.dtype, np.floating) \
            and not np.isfinite(array).all():
        raise InputError("{} holds non-finite values ({}): the result would be meaningless; "
                         "{}.".format(name, _describe(array), fix))
    return value


def check_result(result, what):
    """Raises NonFiniteResultError if an analysis result holds NaN or inf; returns ``result``."""
    result = np.asarray(result)
    if np.issubdtype(result.dtype, np.floating) and not np.isfinite(result).all():
        raise NonFiniteResultError(
            "{} gave non-finite values ({}): the optimisation diverged. Use a smaller beta or "
            "learning_rate, or check the model's outputs and the feature statistics."
            .format(what, _describe(result)))
    return result


def check_not_closed(capacity, what, active=None, pass_mask=None):
    """Raises ClosedBottleneckError if the capacity of a sample is exactly 0 everywhere.

    Only neurons that can carry information count: passed (``pass_mask``) and inactive ones
    always have 0. Without any such neuron nothing is checked.

    Args:
        capacity: ``(n, *feature_shape)``, one row per explained sample.
        what (str): what gave it, for the message.
        active: feature-shaped, nonzero for the active neurons; None: all are.
        pass_mask: feature-shaped, 1 for the neurons that always pass; None: none.

    Returns:
        ``capacity``, unchanged.
    """
    rows = np.asarray(capacity).reshape(len(capacity), -1)
    counted = np.ones(rows.shape[1], dtype=bool)
    for mask, counts in ((active, lambda m: m != 0), (pass_mask, lambda m: m == 0)):
        if mask is not None:
            counted &= counts(np.asarray(mask)).reshape(-1)
    rows = rows[:, counted]
    if rows.shape[1] == 0:
        return capacity
    closed = np.flatnonzero(~rows.any(axis=1))
    if len(closed):
        raise ClosedBottleneckError(
            "{} closed the bottleneck completely (sample(s) {}): every mask value is 0 and "
            "the map is 0 everywhere, which explains nothing. Adam moves alpha by about "
            "learning_rate per step; one far above 1 saturates the sigmoid in the first step, "
            "where its gradient is 0 (a beta so large that no information is kept, over many "
            "steps, does the same). Use a smaller learning_rate (default 1) or beta.".format(
                what, closed[:10].tolist()))
    return capacity


def check_targets(targets, n_samples, n_classes=None, name="target", keys=None):
    """Returns ``targets`` as one class index per sample, an int64 array ``(n_samples,)``.

    The one check of class targets in the package: the analyzers' ``target`` /
    ``neuron_selection``, ``degradation_test``'s ``targets`` and the ``iba-tf`` command's
    ``--target`` (as :func:`iba_tf.tensorflow_v1.models.targets_per_row`) all go through it.

    Args:
        targets: one int for every sample, or a sequence / array of one int per sample (a
            single entry is used for every sample). Only integers: floats (even ``2.0``),
            bools and strings are refused, never truncated.
        n_samples (int): the samples in the batch.
        n_classes (int): the model's outputs; each target must be in ``[0, n_classes)``.
            None skips the upper bound (negative targets are refused all the same).
        name (str): what the caller calls the targets, for the message (``"--target"``).
        keys (list): names of the samples for messages (default: their positions).

    Raises:
        InputError: naming the first bad target, what was expected and the fix.

    Example:
        >>> check_targets(3, 2, 10)
        array([3, 3])
    """
    array = np.asarray(targets)
    if array.ndim == 0:
        value = array.item() if isinstance(targets, np.ndarray) else targets
        return np.full(n_samples, _class_index(value, name, n_classes), dtype=np.int64)
    if array.ndim != 1 or len(array) not in (1, n_samples):
        raise InputError("{} has {} entries for {} samples: give one int or one per sample"
                         .format(name, array.size, n_samples))
    if np.issubdtype(array.dtype, np.integer):      # the common case, checked at once
        rows = array.astype(np.int64)
        upper = n_classes if n_classes is not None else np.iinfo(np.int64).max
        bad = np.flatnonzero((rows < 0) | (rows >= upper))
        if len(bad):
            _class_index(int(rows[bad[0]]), name, n_classes, _where(bad[0], keys))
    else:
        rows = np.array([_class_index(value, name, n_classes, _where(i, keys))
                         for i, value in enumerate(array.astype(object))], dtype=np.int64)
    return np.broadcast_to(rows, (n_samples,)).copy()


def _where(position, keys):
    return " of {}".format("item {}".format(keys[position]) if keys is not None else
                           "sample {}".format(position))


def _class_index(value, name, n_classes, where=""):
    """``value`` as a class index, or InputError naming it and the valid range."""
    valid = "an int from 0 to {}".format(n_classes - 1) if n_classes is not None else \
        "an int >= 0"
    if not (isinstance(value, numbers.Integral) and not isinstance(value, bool)):
        raise InputError("{} {}{} is not a class index: give {} (classes must be integers: "
                         "a float is never truncated)".format(name, _short(value), where,
                                                              valid))
    if value < 0 or (n_classes is not None and value >= n_classes):
        outputs = "the model has {} outputs (0 to {})".format(n_classes, n_classes - 1) \
            if n_classes is not None else "classes are >= 0"
        raise InputError("{} {}{} is out of range: {}".format(name, value, where, outputs))
    return int(value)


def _short(value):
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."
