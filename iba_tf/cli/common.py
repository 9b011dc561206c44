"""Options that several ``iba-tf`` subcommands share."""
from ..hyperparameters import HYPERPARAMETERS, validate

__all__ = ["load_model", "add_model_arguments", "add_layer_argument",
           "add_input_resolution_argument", "add_hyperparameter_arguments",
           "hyperparameters_from_args", "INPUT_RESOLUTION_NOTE"]

#: what the hyperparameter options mean with ``--input-resolution`` (their group's description)
INPUT_RESOLUTION_NOTE = (
    "With --input-resolution they set stage 1, the feature bottleneck after --layer; the "
    "input bottleneck keeps its own defaults (20 steps, --smooth-std 0.5 input pixels, the "
    "others as below; see docs/input_iba.md).")


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


def add_hyperparameter_arguments(parser, description=None):
    """Adds one option per IBA hyperparameter, generated from
    :data:`iba_tf.hyperparameters.HYPERPARAMETERS` (names, defaults, help), in a group with
    ``description``."""
    group = parser.add_argument_group("IBA hyperparameters", description)
    for h in HYPERPARAMETERS:
        if h.type is bool:
            # the flag switches the default off (or on): "--no-normalize-beta"
            group.add_argument(*h.flags, dest=h.name, action="store_const",
                               const=not h.default, default=h.default,
                               help="{} this (on by default): {}".format(
                                   "turn off" if h.default else "turn on", h.help))
        else:
            group.add_argument(*h.flags, dest=h.name, type=h.type, default=h.default,
                               metavar=h.type.__name__.upper(),
                               help="{} (default: {})".format(h.help, h.default))


def hyperparameters_from_args(args):
    """The hyperparameters of parsed ``args`` as a dict, checked.

    Raises:
        iba_tf.errors.InputError: a value out of its range (``--steps -1``, ``--beta inf``).
    """
    return validate(**{h.name: getattr(args, h.name) for h in HYPERPARAMETERS})
