"""Options that several ``iba-tf`` subcommands share."""
from ..errors import InputError
from ..hyperparameters import (GAN_SETTINGS, HYPERPARAMETERS, INPUT_DEFAULTS, PRIOR_SCALE,
                               PRIORS, check_prior_scale, validate)

__all__ = ["load_model", "add_model_arguments", "add_layer_argument",
           "add_input_resolution_argument", "add_hyperparameter_arguments",
           "hyperparameters_from_args", "input_stage_from_args", "input_flag",
           "INPUT_RESOLUTION_NOTE", "INPUT_STAGE_NOTE", "GAN_NOTE"]

#: what the hyperparameter options mean with ``--input-resolution`` (their group's description)
INPUT_RESOLUTION_NOTE = (
    "With --input-resolution they set stage 1, the feature bottleneck after --layer; the "
    "input bottleneck has its own options, --input-beta, --input-steps, ... (below).")

#: the description of the input stage's options (``--input-beta``, ..., ``--prior-scale``)
INPUT_STAGE_NOTE = (
    "Only with --input-resolution: InputIBA's input bottleneck (stage 2). Each --input-X means "
    "what --X means for stage 1 (the input is this bottleneck's feature: its pixels are input "
    "pixels); --prior-scale weighs stage 1's map in its information term. See "
    "docs/input_iba.md.")

#: the description of the GAN prior's options (``--gan-iterations``, ...)
GAN_NOTE = (
    "Only with --input-resolution --input-prior gan: the Wasserstein GAN fitted per input whose "
    "input mask (instead of stage 1's map) is the input stage's prior. See docs/input_iba.md.")


def load_model(args):
    """Loads ``args.model`` (with ``args.custom_objects``), TensorFlow silenced first.

    Raises:
        iba_tf.errors.InputError: the file is missing or not a Keras model.
    """
    from ..quiet import quiet_tensorflow
    quiet_tensorflow()   # before the first import of keras, which prints to stderr
    from ..tensorflow_v1.compat import use_graph_mode
    use_graph_mode()     # the command is a program: it chooses graph mode as a user would
    from ..tensorflow_v1.models import load_keras_model
    return load_keras_model(args.model, args.custom_objects)


def add_model_arguments(parser):
    """Adds the positional ``model`` and the repeatable ``--custom-objects``."""
    parser.add_argument("model", help="a Keras .h5 model")
    parser.add_argument("--custom-objects", action="append", default=[], metavar="MODULE:ATTR",
                        help="a custom layer/function the model needs (repeatable)")


def add_layer_argument(parser):
    """Adds ``--layer``."""
    parser.add_argument("--layer", help="layer to put the bottleneck after (default: the "
                        "first at 1/8 of the input resolution; see 'iba-tf layers')")


def add_input_resolution_argument(parser):
    """Adds ``--input-resolution`` (explain with InputIBA)."""
    parser.add_argument("--input-resolution", action="store_true", help="explain with "
                        "InputIBA: a bottleneck on the input itself, guided by the Per-Sample "
                        "Bottleneck after --layer; maps in bits per input pixel (slower; see "
                        "docs/input_iba.md)")


def input_flag(flag):
    """The input stage's option of a stage-1 option (``--beta`` -> ``--input-beta``)."""
    return "--input-" + flag[2:]


def add_hyperparameter_arguments(parser, description=None, input_stage=False):
    """Adds one option per IBA hyperparameter, generated from
    :data:`iba_tf.hyperparameters.HYPERPARAMETERS` (names, defaults, help), in a group with
    ``description``; with ``input_stage`` also a group of InputIBA's input-stage options
    (``--input-beta``, ..., destinations ``input_beta``, ...; default None: not given) and
    ``--prior-scale``, for :func:`input_stage_from_args`."""
    groups = [("IBA hyperparameters", description, "", {})]   # {}: the record's defaults
    if input_stage:
        groups.append(("InputIBA input stage", INPUT_STAGE_NOTE, "input_", INPUT_DEFAULTS))
    for title, text, prefix, defaults in groups:
        group = parser.add_argument_group(title, text)
        for h in HYPERPARAMETERS:
            _add_hyperparameter(group, h, prefix, defaults.get(h.name, h.default))
        if input_stage and prefix:
            group.add_argument("--prior-scale", type=float, metavar="FLOAT", help="the "
                               "largest weight of the prior (stage 1's map, or the GAN's "
                               "mask, scaled to [0, this]); 0: no guidance (default: {})"
                               .format(PRIOR_SCALE))
            group.add_argument("--input-prior", choices=PRIORS, help="the prior: 'feature', "
                               "stage 1's map upsampled, or 'gan', the input mask of a GAN "
                               "fitted per input, started from it (slower; options below) "
                               "(default: feature)")
    if input_stage:
        group = parser.add_argument_group("InputIBA GAN prior", GAN_NOTE)
        for g in GAN_SETTINGS:
            group.add_argument(*g.flags, dest="gan_" + g.name, type=g.type,
                               metavar=g.type.__name__.upper(),
                               help="{} (default: {})".format(g.help, g.default))


def _add_hyperparameter(group, h, prefix, default):
    """One hyperparameter's option: stage 1's (``prefix`` "") with its default, the input
    stage's (``prefix`` "input_") with default None, the true default in the help."""
    flags = h.flags if not prefix else tuple(input_flag(flag) for flag in h.flags)
    given = default if not prefix else None
    if h.type is bool:
        # the flag switches the default off (or on): "--no-normalize-beta"
        group.add_argument(*flags, dest=prefix + h.name, action="store_const",
                           const=not default, default=given, help="{} this (on by "
                           "default): {}".format("turn off" if default else "turn on", h.help))
    else:
        group.add_argument(*flags, dest=prefix + h.name, type=h.type, default=given,
                           metavar=h.type.__name__.upper(),
                           help="{} (default: {})".format(h.help, default))


def hyperparameters_from_args(args):
    """The hyperparameters of parsed ``args`` as a dict, checked.

    Raises:
        iba_tf.errors.InputError: a value out of its range (``--steps -1``, ``--beta inf``).
    """
    return validate(**{h.name: getattr(args, h.name) for h in HYPERPARAMETERS})


def input_stage_from_args(args):
    """InputIBA's input-stage options of parsed ``args``, checked.

    Returns:
        dict: ``{"input_settings": {...}, "prior_scale": float, "prior": str,
        "gan_settings": {...}}`` (the options given; the others keep their defaults) with
        ``--input-resolution``; ``{}`` without it.

    Raises:
        iba_tf.errors.InputError: an option given without ``--input-resolution``, a GAN
            option without ``--input-prior gan`` (it would be ignored), or a value out of its
            range (``--input-steps -1``, ``--prior-scale 2``, ``--gan-clip 0``).
    """
    given = {h: getattr(args, "input_" + h.name) for h in HYPERPARAMETERS
             if getattr(args, "input_" + h.name) is not None}
    gan = {g: getattr(args, "gan_" + g.name) for g in GAN_SETTINGS
           if getattr(args, "gan_" + g.name) is not None}
    _check_given(args, [g.flags[0] for g in gan], [input_flag(h.flags[0]) for h in given] + [
        flag for flag, value in (("--prior-scale", args.prior_scale),
                                 ("--input-prior", args.input_prior)) if value is not None])
    if not args.input_resolution:
        return {}
    for flag, h, value in [(input_flag(h.flags[0]), h, value) for h, value in given.items()] + \
            [(g.flags[0], g, value) for g, value in gan.items()]:
        if not h.check(value):
            raise InputError("{}={!r} is invalid: it must be {}.".format(flag, value, h.expected))
    prior_scale = PRIOR_SCALE
    if args.prior_scale is not None:
        try:
            prior_scale = check_prior_scale(args.prior_scale)
        except InputError:
            raise InputError("--prior-scale={!r} is invalid: it must be a number in [0, 1] (0: "
                             "no guidance by stage 1, the plain input bottleneck).".format(
                                 args.prior_scale)) from None
    return {"input_settings": {h.name: value for h, value in given.items()},
            "prior_scale": prior_scale, "prior": args.input_prior or "feature",
            "gan_settings": {g.name: value for g, value in gan.items()}}


def _check_given(args, gan_flags, stage_flags):
    """Refuses GAN options without ``--input-prior gan`` and input-stage options without
    ``--input-resolution``: they would do nothing."""
    if gan_flags and args.input_prior != "gan":
        missing = ("" if args.input_resolution else "--input-resolution ") + "--input-prior gan"
        raise InputError("{} {} the GAN prior of InputIBA's input stage: add {}, or drop {}"
                         .format(", ".join(gan_flags), _verb(gan_flags), missing,
                                 _pronoun(gan_flags)))
    if stage_flags and not args.input_resolution:
        raise InputError("{} {} InputIBA's input stage: add --input-resolution, or drop {}"
                         .format(", ".join(stage_flags), _verb(stage_flags),
                                 _pronoun(stage_flags)))


def _verb(flags):
    return "sets" if len(flags) == 1 else "set"


def _pronoun(flags):
    return "it" if len(flags) == 1 else "them"
