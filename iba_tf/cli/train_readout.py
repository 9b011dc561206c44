"""``iba-tf train-readout MODEL DATA --out readout.npz``: train a Readout Bottleneck.

    iba-tf train-readout MODEL.h5 DATA --layer L --readout-layers A,B,C --out readout.npz
        [--epochs N] [--batch-size N] [--fit-samples N] [--targets label|predicted] ...

``DATA`` is read as ``explain-dataset`` reads it (a folder of class folders or of images, or
an ``.npy``/``.npz`` file: :func:`iba_tf.dataset.sources.open_source`). The statistics of
every layer the readout needs are estimated first, then the readout network is trained and
saved (statistics, hyperparameters and weights in one file; nothing is written on an error).
``iba-tf explain --readout`` and ``iba-tf explain-dataset --readout`` use the file.
"""
import os

from ..dataset.sources import open_source, parse_size
from ..errors import InputError
from ..hyperparameters import validate
from ..images import PREPROCESSING
from .common import add_layer_argument, add_model_arguments, load_model

__all__ = ["add_parser", "run"]

# The hyperparameters of the readout (IBAReadout's keywords) given on the command line.
READOUT_HYPERPARAMETERS = ("beta", "learning_rate", "min_std", "smooth_std")


def add_parser(subparsers):
    """Adds the ``train-readout`` subcommand to ``subparsers``; returns its parser."""
    parser = subparsers.add_parser(
        "train-readout", help="train a Readout Bottleneck on a data set (for --readout)",
        description="Train the Readout Bottleneck's readout network on a folder or array file "
        "and save it for 'iba-tf explain --readout' and 'iba-tf explain-dataset --readout'. "
        "See docs/readout.md.")
    add_model_arguments(parser)
    parser.add_argument("source", metavar="DATA", help="a folder of class folders (or of "
                        "images), or an .npy/.npz file of images in 0..255")
    parser.add_argument("--out", required=True, metavar="FILE.npz", help="the readout file")
    add_layer_argument(parser)
    parser.add_argument("--readout-layers", metavar="A,B,C", help="comma-separated layers the "
                        "readout network reads (default: the attach layer and the model's "
                        "output layer, i.e. its logits)")
    parser.add_argument("--targets", choices=("label", "predicted"), help="train for the "
                        "labels (default when the data has labels) or for the model's "
                        "prediction")
    parser.add_argument("--epochs", type=int, default=3, help="default: %(default)s")
    parser.add_argument("--batch-size", type=int, default=32, help="default: %(default)s")
    parser.add_argument("--fit-samples", type=int, default=500, metavar="N",
                        help="items to estimate the statistics on (default: %(default)s)")
    parser.add_argument("--validation-split", type=float, default=0., metavar="FRACTION",
                        help="items held out for a validation loss (default: none)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the item order and of "
                        "the readout network's initial weights")
    parser.add_argument("--preprocess", choices=sorted(PREPROCESSING), default="unit",
                        help="pixel scaling (default: %(default)s)")
    parser.add_argument("--resize", metavar="SIZE", help="as for explain-dataset")
    parser.add_argument("--array-key", help="the images' array in an .npz file")
    parser.add_argument("--label-key", help="the labels' array in an .npz file")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    group = parser.add_argument_group("readout hyperparameters (default: IBAReadout's, see "
                                      "docs/readout.md)")
    for name in READOUT_HYPERPARAMETERS:
        group.add_argument("--" + name.replace("_", "-"), dest=name, type=float,
                           metavar="FLOAT")
    parser.set_defaults(run=run)
    return parser


def _checked(args):
    """Checks the plain options and opens the data; returns ``(source, resize)``."""
    validate(**{name: getattr(args, name) for name in READOUT_HYPERPARAMETERS})
    for name, minimum in (("epochs", 1), ("batch_size", 1), ("fit_samples", 2)):
        if getattr(args, name) < minimum:
            raise InputError("--{} {} is invalid: it must be >= {}".format(
                name.replace("_", "-"), getattr(args, name), minimum))
    if not 0 <= args.validation_split < 1:
        raise InputError("--validation-split {} is invalid: it must be in [0, 1)".format(
            args.validation_split))
    if not args.out.endswith(".npz"):
        raise InputError("--out {} is invalid: the readout file must end in .npz".format(
            args.out))
    if not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
        raise InputError("--out {}: its folder does not exist".format(args.out))
    if os.path.isdir(args.out):
        raise InputError("--out {} is a folder; give the readout file to write".format(
            args.out))
    source = open_source(args.source, args.array_key, args.label_key)
    if args.targets == "label" and not source.has_labels:
        raise InputError("--targets label needs labels: a folder with one sub-folder per "
                         "class, or an .npz file with a label array; {} has none".format(
                             source.path))
    if len(source) < 2:
        raise InputError("{} holds {} item(s); training needs at least 2".format(
            source.path, len(source)))
    return source, parse_size(args.resize)


def run(args):
    """Trains a readout for ``args.model`` on ``args.source`` and saves it to ``args.out``."""
    source, resize = _checked(args)
    model = load_model(args)
    from ..tensorflow_v1.model_analyzer import logits_of
    from ..tensorflow_v1.models import check_layer, default_feature_layer, image_input_shape
    from ..dataset.batches import split
    input_shape = image_input_shape(model)
    logits, softmax = logits_of(model)
    layer = check_layer(model, args.layer) if args.layer else \
        default_feature_layer(logits).name
    readout_layers = _readout_layers(args.readout_layers, model, logits, layer)
    if softmax:
        print("The model ends with a softmax: the readout explains its logits.")
    with_labels = args.targets == "label" or (args.targets is None and source.has_labels)
    train, validation, estimate = split(
        source, input_shape, resize, args.preprocess, args.batch_size, with_labels,
        args.validation_split, args.fit_samples, args.seed)
    readout = _readout(layer, readout_layers, logits, args)
    progress = not args.no_progress
    print("Estimating the statistics of {} on {} items".format(
        ", ".join(dict.fromkeys([layer] + readout_layers)), estimate.n_items))
    readout.estimate(estimate, n_samples=estimate.n_items, progbar=progress)
    print("Training on {} items for {} epoch(s), {}{}".format(
        train.n_items, args.epochs, "for the labels" if with_labels else
        "for the model's predictions", ", validating on {}".format(validation.n_items)
        if validation else ""))
    try:
        history = readout.train(train, epochs=args.epochs, validation_data=validation,
                                progbar=progress)
    except FloatingPointError as error:
        raise InputError("{}; nothing was saved: lower --learning-rate or --beta".format(
            str(error).strip().splitlines()[0].rstrip("."))) from None
    readout.save(args.out)
    last = history[-1]
    print("Saved {} (attach layer {}, readout layers {}; last epoch: loss {:.4g}, model loss "
          "{:.4g}, information loss {:.4g})".format(
              args.out, layer, ",".join(readout_layers), last["loss"], last["model_loss"],
              last["information_loss"]))
    return history


def _readout_layers(spec, model, logits, layer):
    """The readout layers' names in the logits model (the softmax layer's name means the
    logits); default: the attach layer and the logits layer."""
    names = [name.strip() for name in spec.split(",") if name.strip()] if spec else \
        [layer, logits.layers[-1].name]
    if not names:
        raise InputError("--readout-layers {!r} names no layer; give e.g. {},{}".format(
            spec, layer, logits.layers[-1].name))
    known = {l.name for l in logits.layers}
    renamed = []
    for name in names:
        if name == model.layers[-1].name and name not in known:
            name = logits.layers[-1].name   # the softmax layer: read its logits
        if name not in known:
            raise InputError("--readout-layers: unknown layer {!r}; the model's layers are {}"
                             .format(name, ", ".join(l.name for l in model.layers)))
        renamed.append(name)
    return renamed


def _readout(layer, readout_layers, logits, args):
    """The untrained IBAReadout; its own ValueErrors (e.g. a layer that cannot be read)
    become InputErrors."""
    from ..tensorflow_v1.readout import IBAReadout
    hyper = {name: getattr(args, name) for name in READOUT_HYPERPARAMETERS
             if getattr(args, name) is not None}
    try:
        return IBAReadout(layer, readout_layers, logits, seed=args.seed, **hyper)
    except ValueError as error:
        raise InputError(str(error).strip().splitlines()[0]) from None
