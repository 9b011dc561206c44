"""``iba-tf layers MODEL``: the layers a bottleneck can go after."""
from .common import add_model_arguments, load_model

__all__ = ["add_parser", "run"]


def add_parser(subparsers):
    """Adds the ``layers`` subcommand to ``subparsers``; returns its parser."""
    parser = subparsers.add_parser("layers", help="list the layers a bottleneck can go after")
    add_model_arguments(parser)
    parser.set_defaults(run=run)
    return parser


def run(args):
    """Prints the candidate layers of ``args.model``, marking the default and the layers that
    a skip connection runs around."""
    model = load_model(args)
    from ..tensorflow_v1.models import candidate_layers, default_feature_layer, is_on_main_path
    try:
        default = default_feature_layer(model).name
    except ValueError:
        default = None
    print("Layers of {} a bottleneck can go after (name, output shape); '~' marks layers that "
          "a skip connection runs around (a bottleneck there restricts one branch only):"
          .format(args.model))
    for name, shape in candidate_layers(model):
        print("  {} {:<32} {}{}".format(
            " " if is_on_main_path(model, model.get_layer(name)) else "~", name, str(shape),
            "   <- default" if name == default else ""))
