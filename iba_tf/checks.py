"""Checks of user input shared by the whole package: finite values and class targets.

Each check raises one :class:`~iba_tf.errors.InputError` (a ``ValueError``) that names the bad
value, what was expected and the fix, before any work is done.
"""
import numbers

import numpy as np

from .errors import InputError

__all__ = ["NonFiniteResultError", "check_finite", "check_targets", "check_result"]


class NonFiniteResultError(ValueError):
    """An analysis gave NaN or inf (e.g. an optimisation that diverged for a huge beta)."""


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


def check_targets(targets, n_samples, n_classes=None, name="target"):
    """Returns ``targets`` as an int64 array with one class per sample, checked.

    Args:
        targets: an int for all samples or one int per sample.
        n_samples (int): the number of samples.
        n_classes (int): the number of classes; None skips the range check (but negative
            targets are refused all the same).
        name (str): what the caller calls the targets, for the message.

    Raises:
        InputError: for floats, bools, a wrong count or a class out of range.
    """
    array = np.asarray(targets)
    if array.dtype == object and all(isinstance(t, numbers.Integral) and not isinstance(t, bool)
                                     for t in array.reshape(-1)):
        array = array.astype(np.int64)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise InputError("{}={} is invalid: classes must be integers (got dtype {}); pass "
                         "int class indices such as 3.".format(name, _short(targets),
                                                              array.dtype))
    if array.ndim == 0:
        array = np.full(n_samples, int(array))
    if array.ndim != 1 or len(array) not in (1, n_samples):
        raise InputError("{} {}(s) given: {} entries for {} samples; give one class or one "
                         "per sample.".format(array.size, name, array.size, n_samples))
    array = np.broadcast_to(array, (n_samples,)).astype(np.int64)
    upper = n_classes if n_classes is not None else np.iinfo(np.int64).max
    bad = sorted(set(int(t) for t in array if not 0 <= t < upper))
    if bad:
        expected = "0 .. {}".format(n_classes - 1) if n_classes is not None else ">= 0"
        raise InputError("{} {} out of range: classes must be in {} (the model has {} "
                         "outputs).".format(name, bad[:10], expected,
                                            n_classes if n_classes is not None else "?"))
    return array


def _short(value):
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."
