"""The IBA hyperparameters: one record of names, defaults, validation and help text.

Everything that lists the hyperparameters is generated from ``HYPERPARAMETERS``: the
defaults (``DEFAULTS``), the checks (:func:`validate`), the options of the ``iba-tf``
command, the options of :func:`iba_tf.dataset.explain_dataset` and the hyperparameter
section of docstrings (:func:`docstring_section`). Changing a default is one edit here.
Shared by the TensorFlow and the PyTorch port.

Example:
    >>> from iba_tf.hyperparameters import DEFAULTS, resolve
    >>> DEFAULTS["beta"]
    10.0
    >>> resolve(beta=3)["beta"]
    3.0
"""
import collections
import math
import numbers
import textwrap

from .errors import InputError

__all__ = ["Hyperparameter", "HYPERPARAMETERS", "DEFAULTS", "INPUT_DEFAULTS", "PRIOR_SCALE",
           "PRIORS", "GAN_SETTINGS", "GAN_DEFAULTS", "ALIASES", "validate", "merge", "resolve",
           "check_prior_scale", "check_prior", "gan_settings", "docstring_section", "is_int",
           "is_real"]


def is_int(value):
    """True for an integer that is not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value):
    """True for a real number that is not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _finite(value):
    return is_real(value) and math.isfinite(value)


Hyperparameter = collections.namedtuple(
    "Hyperparameter", ["name", "default", "type", "check", "expected", "help", "flags"])
Hyperparameter.__doc__ = """One IBA hyperparameter.

Attributes:
    name (str): the keyword argument (``beta``).
    default: the default value.
    type (type): ``int``, ``float`` or ``bool``; values are converted to it by :func:`resolve`.
    check (callable): True for a valid value.
    expected (str): what a valid value is, for error messages (``a finite number >= 0``).
    help (str): one sentence on what it does, for ``--help`` and docstrings.
    flags (tuple): the ``iba-tf`` options that set it (``("--lr", "--learning-rate")``).
"""

HYPERPARAMETERS = (
    Hyperparameter("batch_size", 10, int, lambda v: is_int(v) and v >= 1, "an int >= 1",
                   "noise samples per optimisation step", ("--batch-size",)),
    Hyperparameter("steps", 10, int, lambda v: is_int(v) and v >= 0, "an int >= 0",
                   "optimisation steps per sample", ("--steps",)),
    Hyperparameter("beta", 10., float, lambda v: _finite(v) and v >= 0,
                   "a finite number >= 0", "weight of the information term: larger keeps "
                   "less information", ("--beta",)),
    Hyperparameter("learning_rate", 1., float, lambda v: _finite(v) and v >= 0,
                   "a finite number >= 0", "Adam's learning rate",
                   ("--lr", "--learning-rate")),
    Hyperparameter("min_std", 0.01, float, lambda v: _finite(v) and v > 0,
                   "a finite number > 0", "lower bound of the feature std the noise is "
                   "scaled with", ("--min-std",)),
    Hyperparameter("smooth_std", 1., float, lambda v: _finite(v) and v >= 0,
                   "a finite number >= 0 (0 disables smoothing)", "std (in feature pixels) "
                   "of the Gaussian blur of the bottleneck's mask; 0 disables it",
                   ("--smooth-std",)),
    Hyperparameter("normalize_beta", True, bool,
                   lambda v: isinstance(v, (bool, numbers.Integral)) and v in (0, 1),
                   "True or False", "divide beta by the feature's size (k = H*W*C), as in "
                   "the paper", ("--no-normalize-beta",)),
)

_BY_NAME = collections.OrderedDict((h.name, h) for h in HYPERPARAMETERS)

DEFAULTS = {h.name: h.default for h in HYPERPARAMETERS}

#: defaults of InputIBA's input stage (:mod:`iba_tf.tensorflow_v1.input_iba`); its feature
#: stage uses ``DEFAULTS``. 20 steps of 4 noise samples and a blur of 0.5 input pixels (1 px
#: dilutes small regions; 4 samples score as 10 and cost 0.4x; chosen on images the published
#: evaluation does not use, see ``docs/input_iba.md``)
INPUT_DEFAULTS = dict(DEFAULTS, steps=20, batch_size=4, smooth_std=0.5)
#: InputIBA's largest prior weight (``prior_scale``); < 1 keeps passing costly everywhere
PRIOR_SCALE = 0.9

#: the sources of InputIBA's prior (``prior``): ``"feature"``, the upsampled stage-1 map, or
#: ``"gan"``, the input mask of a generator fitted per input
#: (:mod:`iba_tf.tensorflow_v1.input_gan`)
PRIORS = ("feature", "gan")

#: settings of InputIBA's GAN stage (``prior="gan"``), as :class:`Hyperparameter` records
#: (``flags``: the ``iba-tf`` option): ``iterations`` generator steps, each after
#: ``critic_steps`` critic steps on ``batch_size`` real and generated feature maps; RMSprop
#: with ``learning_rate`` (critic), ``mask_learning_rate`` (the mask's logits) and
#: ``noise_learning_rate`` (the generator's noise mean and std, relative to the input's std);
#: the critic's weights are clipped to ``[-clip, clip]``. Far fewer steps than the authors'
#: (about 1400 critic and 400 generator steps, batch 32, critic rate 5e-5), larger rates (the
#: mask's logits can move 1.0 against their 1.6); 40 generator steps cost 3.5x more and scored
#: the same on the selection images, see ``docs/input_iba.md``
GAN_SETTINGS = (
    Hyperparameter("iterations", 10, int, lambda v: is_int(v) and v >= 0,
                   "an int >= 0 (generator steps; 0 keeps the stage-1 prior)",
                   "generator steps (0: the stage-1 prior)", ("--gan-iterations",)),
    Hyperparameter("critic_steps", 5, int, lambda v: is_int(v) and v >= 1, "an int >= 1",
                   "critic steps before each generator step", ("--gan-critic-steps",)),
    Hyperparameter("batch_size", 16, int, lambda v: is_int(v) and v >= 1, "an int >= 1",
                   "real and generated feature maps per step", ("--gan-batch-size",)),
    Hyperparameter("learning_rate", 5e-4, float, lambda v: _finite(v) and v > 0,
                   "a finite number > 0", "the critic's RMSprop learning rate", ("--gan-lr",)),
    Hyperparameter("mask_learning_rate", 0.02, float, lambda v: _finite(v) and v >= 0,
                   "a finite number >= 0", "learning rate of the generator's mask logits",
                   ("--gan-mask-lr",)),
    Hyperparameter("noise_learning_rate", 0.02, float, lambda v: _finite(v) and v >= 0,
                   "a finite number >= 0", "learning rate of the generator's noise mean and "
                   "std", ("--gan-noise-lr",)),
    Hyperparameter("clip", 0.1, float, lambda v: _finite(v) and v > 0, "a finite number > 0",
                   "the critic's weights are clipped to [-this, this]", ("--gan-clip",)),
)
_GAN_BY_NAME = collections.OrderedDict((g.name, g) for g in GAN_SETTINGS)
#: the defaults of :data:`GAN_SETTINGS` (name -> value)
GAN_DEFAULTS = {g.name: g.default for g in GAN_SETTINGS}

# name -> (test, what the value must be): the seven above and the PyTorch port's own settings
_RULES = dict({h.name: (h.check, h.expected) for h in HYPERPARAMETERS}, **{
    "initial_alpha": (_finite, "a finite number"),
    "active_neurons_threshold": (lambda v: is_real(v) and 0 <= v < 1, "a number in [0, 1)"),
})

# The PyTorch port's names for the same hyperparameters.
ALIASES = {"sigma": "smooth_std", "optimization_steps": "steps", "lr": "learning_rate"}


def validate(_prefix="", **values):
    """Checks hyperparameter values (None means "not given") and returns them as a dict.

    Names may be the PyTorch port's (``ALIASES``); messages use the name as given, after
    ``_prefix``.

    Raises:
        iba_tf.errors.InputError: (a ``ValueError``) naming the first bad value and what was
            expected.
        TypeError: for a name that is no hyperparameter.
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
            raise InputError("{}{}={!r} is invalid: it must be {}.".format(
                _prefix, name, value, expected))
    return values


def merge(defaults, **overrides):
    """Returns ``defaults`` updated with every override that is not None (0/False count)."""
    validate(**overrides)
    merged = dict(defaults)
    merged.update({name: value for name, value in overrides.items() if value is not None})
    merged["normalize_beta"] = bool(merged["normalize_beta"])
    return merged


def resolve(_defaults=None, **overrides):
    """All seven hyperparameters: ``DEFAULTS`` (or ``_defaults``, e.g. ``INPUT_DEFAULTS``)
    with ``overrides``, checked and typed.

    Each value is converted to its record's type (``beta=3`` gives ``3.0``), so equal
    settings compare and serialise equal.

    Raises:
        iba_tf.errors.InputError: a bad value; TypeError: an unknown name.
    """
    merged = merge(DEFAULTS if _defaults is None else _defaults, **overrides)
    return {name: _BY_NAME[name].type(value) if name in _BY_NAME else value
            for name, value in merged.items()}


def check_prior_scale(value):
    """``value`` (InputIBA's ``prior_scale``) as a float in [0, 1].

    Raises:
        iba_tf.errors.InputError: anything else (NaN included).
    """
    if not is_real(value) or not 0 <= value <= 1:
        raise InputError("prior_scale={!r} is invalid: it must be a number in [0, 1] (0: no "
                         "prior, the plain input bottleneck).".format(value))
    return float(value)


def check_prior(value):
    """``value`` (InputIBA's ``prior``) if it is one of :data:`PRIORS`.

    Raises:
        iba_tf.errors.InputError: anything else.
    """
    if not isinstance(value, str) or value not in PRIORS:
        raise InputError("prior={!r} is invalid: it must be one of {} ('feature': the upsampled "
                         "feature map, 'gan': the mask of a generator fitted per input)."
                         .format(value, ", ".join(repr(p) for p in PRIORS)))
    return value


def gan_settings(defaults, given):
    """``defaults`` (as :data:`GAN_DEFAULTS`) updated with the dict ``given``, checked; a new
    dict (None: a copy of ``defaults``). Given values keep their type.

    Raises:
        iba_tf.errors.InputError: naming an unknown name or a bad value and what it must be.
    """
    if given is None:
        return dict(defaults)
    if not isinstance(given, dict):
        raise InputError("gan_settings={!r} is invalid: it must be a dict such as "
                         "{{'iterations': 20}} (names: {}).".format(
                             given, ", ".join(_GAN_BY_NAME)))
    merged = dict(defaults)
    for name, value in given.items():
        if name not in _GAN_BY_NAME:
            raise InputError("gan_settings: unknown setting {!r}; the GAN stage takes {}."
                             .format(name, ", ".join(_GAN_BY_NAME)))
        setting = _GAN_BY_NAME[name]
        if not setting.check(value):
            raise InputError("gan_settings: {}={!r} is invalid: it must be {}.".format(
                name, value, setting.expected))
        merged[name] = value
    return merged


def docstring_section(names=None, indent=8, width=96):
    """The Google-style ``Args`` entries of hyperparameters, rendered from the record.

    Args:
        names: the hyperparameters to list, in this order (default: all seven).
        indent (int): spaces before each entry (continuation lines get 4 more).
        width (int): the longest line.

    Returns:
        str: one entry per hyperparameter, e.g.
        ``beta (float): weight of the information term: ... Default: 10.0.``

    Example:
        >>> __doc__ = __doc__.format(hyperparameters=docstring_section())  # doctest: +SKIP
    """
    entries = []
    for name in names or _BY_NAME:
        h = _BY_NAME[name]
        text = "{} ({}): {}; {}. Default: {!r}.".format(
            h.name, h.type.__name__, h.help[0].upper() + h.help[1:], h.expected, h.default)
        entries.append(textwrap.fill(text, width, initial_indent=" " * indent,
                                     subsequent_indent=" " * (indent + 4)))
    return "\n".join(entries)
