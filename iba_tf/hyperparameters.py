"""The IBA hyperparameters: names, defaults and validation (shared by both ports)."""
import math
import numbers

DEFAULTS = dict(batch_size=10, steps=10, beta=10., learning_rate=1., min_std=0.01,
                smooth_std=1., normalize_beta=True)


def is_int(value):
    """True for an integer that is not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value):
    """True for a real number that is not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


# name -> (test, what the value must be)
_RULES = {
    "batch_size": (lambda v: is_int(v) and v >= 1, "an int >= 1"),
    "steps": (lambda v: is_int(v) and v >= 0, "an int >= 0"),
    "beta": (lambda v: is_real(v) and v >= 0, "a number >= 0"),
    "learning_rate": (lambda v: is_real(v) and v >= 0, "a number >= 0"),
    "min_std": (lambda v: is_real(v) and v > 0, "a number > 0"),
    "smooth_std": (lambda v: is_real(v) and v >= 0, "a number >= 0 (0 disables smoothing)"),
    "normalize_beta": (lambda v: isinstance(v, (bool, numbers.Integral)) and v in (0, 1),
                       "True or False"),
    # the PyTorch port's own settings
    "initial_alpha": (lambda v: is_real(v) and math.isfinite(v), "a finite number"),
    "active_neurons_threshold": (lambda v: is_real(v) and 0 <= v < 1, "a number in [0, 1)"),
}

# The PyTorch port's names for the same hyperparameters.
ALIASES = {"sigma": "smooth_std", "optimization_steps": "steps", "lr": "learning_rate"}


def validate(_prefix="", **values):
    """Checks hyperparameter values (None means "not given") and returns them as a dict.

    Names may be the PyTorch port's (:data:`ALIASES`); messages use the name as given, after
    ``_prefix``.

    Raises:
        ValueError: naming the first bad value and what was expected.
    """
    for name, value in values.items():
        rule = _RULES.get(ALIASES.get(name, name))
        if rule is None:
            raise TypeError("{}Unknown IBA hyperparameter {!r}; known are {}.".format(
                _prefix, name, ", ".join(sorted(set(_RULES) | set(ALIASES)))))
        if value is None:
            continue
        test, expected = rule
        if not test(value):
            raise ValueError("{}{}={!r} is invalid: it must be {}.".format(
                _prefix, name, value, expected))
    return values


def merge(defaults, **overrides):
    """Returns ``defaults`` updated with every override that is not None (0/False count)."""
    validate(**overrides)
    merged = dict(defaults)
    merged.update({name: value for name, value in overrides.items() if value is not None})
    merged["normalize_beta"] = bool(merged["normalize_beta"])
    return merged
