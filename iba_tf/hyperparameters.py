"""The IBA hyperparameters: names, defaults and validation."""
import numbers

DEFAULTS = dict(batch_size=10, steps=10, beta=10., learning_rate=1., min_std=0.01,
                smooth_std=1., normalize_beta=True)


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


# name -> (test, what the value must be)
_RULES = {
    "batch_size": (lambda v: _is_int(v) and v >= 1, "an int >= 1"),
    "steps": (lambda v: _is_int(v) and v >= 0, "an int >= 0"),
    "beta": (lambda v: _is_real(v) and v >= 0, "a number >= 0"),
    "learning_rate": (lambda v: _is_real(v) and v >= 0, "a number >= 0"),
    "min_std": (lambda v: _is_real(v) and v > 0, "a number > 0"),
    "smooth_std": (lambda v: _is_real(v) and v >= 0, "a number >= 0 (0 disables smoothing)"),
    "normalize_beta": (lambda v: isinstance(v, (bool, numbers.Integral)) and v in (0, 1),
                       "True or False"),
}


def validate(**values):
    """Checks hyperparameter values (None means "not given") and returns them as a dict.

    Raises:
        ValueError: naming the first bad value and what was expected.
    """
    for name, value in values.items():
        if name not in _RULES:
            raise TypeError("Unknown IBA hyperparameter {!r}; known are {}.".format(
                name, ", ".join(sorted(_RULES))))
        if value is None:
            continue
        test, expected = _RULES[name]
        if not test(value):
            raise ValueError("{}={!r} is invalid: it must be {}.".format(name, value, expected))
    return values


def merge(defaults, **overrides):
    """Returns ``defaults`` updated with every override that is not None (0/False count)."""
    validate(**overrides)
    merged = dict(defaults)
    merged.update({name: value for name, value in overrides.items() if value is not None})
    merged["normalize_beta"] = bool(merged["normalize_beta"])
    return merged
