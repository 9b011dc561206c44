"""The ``iba-tf`` command: explain a saved Keras model's predictions on image files.

    iba-tf layers MODEL.h5
    iba-tf explain MODEL.h5 IMAGE [IMAGE ...] [--layer NAME] [--target N] [--out DIR]
    iba-tf explain-dataset MODEL.h5 SOURCE --out RESULTS.h5 ...   (see docs/dataset.md)

Bad input (missing files, a file that is not a Keras model, an unknown layer, images that do
not fit the model, a target out of range) is reported in one line on stderr with exit code 2.
"""
import argparse
import contextlib
import difflib
import importlib
import io
import os
import sys
import warnings

from .images import PREPROCESSING, list_images, load_image, preprocess

EXIT_BAD_INPUT = 2
# Fallback statistics: with fewer images than this, flipped/shifted/noisy copies are added.
MIN_FIT_SAMPLES = 32


class CliError(Exception):
    """A problem with the user's input: printed as one line, exit code 2."""


def quiet_tensorflow():
    """Imports keras/TensorFlow without their start-up chatter on stderr."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore")
    with contextlib.redirect_stderr(io.StringIO()):
        import keras  # noqa: F401  (prints "Using TensorFlow backend." on stderr)
        from .tensorflow_v1.compat import tf, use_graph_mode
    tf.logging.set_verbosity(tf.logging.ERROR)
    use_graph_mode()            # the command and its workers are programs, not library calls


def _custom_objects(specs):
    objects = {}
    for spec in specs or []:
        module_name, _, attr = spec.partition(":")
        if not module_name or not attr:
            raise CliError("--custom-objects expects module:attr, got {!r}".format(spec))
        try:
            objects[attr.split(".")[-1]] = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as error:
            raise CliError("cannot import custom object {!r}: {}".format(spec, error))
    return objects


def load_keras_model(path, custom_object_specs=None):
    """Loads a Keras ``.h5`` model (without compiling it) or raises CliError."""
    if not os.path.isfile(path):
        raise CliError("model file not found: {}".format(path))
    objects = _custom_objects(custom_object_specs)
    quiet_tensorflow()
    import keras
    import iba_tf  # noqa: F401  (registers IBALayer for loading)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            return keras.models.load_model(path, custom_objects=objects, compile=False)
    except (OSError, ValueError, KeyError, TypeError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(
            error).__name__
        raise CliError("{} is not a Keras model that loads with keras.models.load_model: {}. "
                       "Custom layers can be named with --custom-objects module:attr".format(
                           path, first_line))


def candidate_layers(model):
    """Layers a bottleneck can go after: hidden layers with a fully known output shape."""
    import keras
    layers = []
    for layer in model.layers[:-1]:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        try:
            shape = layer.output_shape
        except AttributeError:
            continue
        if isinstance(shape, tuple) and len(shape) > 1 and all(shape[1:]):
            layers.append((layer.name, shape[1:]))
    return layers


def check_layer(model, name):
    """Returns ``name`` if a bottleneck can go after that layer, else raises CliError."""
    names = [layer for layer, _ in candidate_layers(model)]
    if name in names:
        return name
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = "; did you mean {}?".format(" or ".join(close)) if close else \
        "; run 'iba-tf layers MODEL' for the list"
    raise CliError("unknown layer {!r}{}".format(name, hint))


def _read_images(paths, model, grayscale, resize):
    shape = model.input_shape
    if len(shape) != 4:
        raise CliError("the model takes inputs of shape {}, not images (height, width, "
                       "channels)".format(shape[1:]))
    height, width, channels = shape[1:]
    if channels not in (1, 3):
        raise CliError("the model expects {} channels per pixel; image files give 1 (grey) or "
                       "3 (RGB)".format(channels))
    grayscale = grayscale or channels == 1
    if grayscale and channels == 3:
        raise CliError("--grayscale gives 1 channel, but the model expects 3 (RGB); drop "
                       "--grayscale")
    images = []
    for path in paths:
        try:
            image = load_image(path, None if not resize else (height, width), grayscale)
        except FileNotFoundError as error:
            raise CliError(str(error))
        except ValueError as error:
            raise CliError(str(error))
        if image.shape[:2] != (height, width):
            raise CliError("image {} is {}x{}, the model expects {}x{}; leave out --no-resize "
                           "to resize it".format(path, image.shape[0], image.shape[1], height,
                                                 width))
        images.append(image)
    return images


def _fit_samples(images, rng):
    """The given images plus flipped, shifted and noisy copies (the documented fallback)."""
    import numpy as np
    samples = list(images)
    while len(samples) < MIN_FIT_SAMPLES:
        image = images[len(samples) % len(images)]
        variant = image[:, ::-1] if rng.rand() < 0.5 else image
        variant = np.roll(variant, rng.randint(-4, 5, size=2), axis=(0, 1))
        samples.append(np.clip(variant + rng.normal(0, 8, size=variant.shape), 0, 255))
    return np.stack(samples).astype(np.float32)


def _class_names(spec, n_classes):
    if spec is None:
        return [str(i) for i in range(n_classes)]
    if os.path.isfile(spec):
        with open(spec) as f:
            names = [line.strip() for line in f if line.strip()]
    else:
        names = [name.strip() for name in spec.split(",")]
    if len(names) != n_classes:
        raise CliError("--class-names gives {} names, the model has {} outputs".format(
            len(names), n_classes))
    return names


def command_layers(args):
    model = load_keras_model(args.model, args.custom_objects)
    from .tensorflow_v1.innvestigate_analyzer import default_feature_layer, is_on_main_path
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


def command_explain(args):
    import numpy as np
    model = load_keras_model(args.model, args.custom_objects)
    images = _read_images(args.images, model, args.grayscale, not args.no_resize)
    layer = check_layer(model, args.layer) if args.layer else None

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from . import plot_saliency_map
    from .tensorflow_v1.innvestigate_analyzer import IBACopyInnvestigate, default_feature_layer
    from .tensorflow_v1.keras_utils import model_wo_softmax

    logits_model = model
    if model.output.op.type == "Softmax":
        logits_model = model_wo_softmax(model)
        print("The model ends with a softmax: explaining its logits.")
    layer = layer or default_feature_layer(logits_model).name
    x = preprocess(np.stack(images), args.preprocess)
    n_classes = int(logits_model.output.shape[-1])
    names = _class_names(args.class_names, n_classes)
    if args.target is not None and not 0 <= args.target < n_classes:
        raise CliError("--target {} is out of range: the model has {} outputs (0 to {})".format(
            args.target, n_classes, n_classes - 1))

    analyzer = IBACopyInnvestigate(
        logits_model, neuron_selection_mode="index", feature_name=layer,
        batch_size=args.batch_size, steps=args.steps, beta=args.beta,
        learning_rate=args.lr, min_std=args.min_std, smooth_std=args.smooth_std)
    if args.fit_dir:
        files = list_images(args.fit_dir)
        if not files:
            raise CliError("no image files in --fit-dir {}".format(args.fit_dir))
        fit_images = _read_images(files, model, args.grayscale, True)
        print("Estimating the feature statistics on {} images from {}".format(
            len(fit_images), args.fit_dir))
        analyzer.fit(preprocess(np.stack(fit_images), args.preprocess), progbar=True)
    else:
        fit_images = _fit_samples(images, np.random.RandomState(0))
        print("Estimating the feature statistics on the {} given image(s) and {} flipped, "
              "shifted and noisy copies (use --fit-dir with representative images for better "
              "statistics)".format(len(images), len(fit_images) - len(images)))
        analyzer.fit(preprocess(fit_images, args.preprocess))

    predicted = analyzer.predict(x).argmax(axis=1)
    targets = predicted if args.target is None else np.full(len(x), args.target)
    saliency = analyzer.analyze(x, neuron_selection=targets)
    os.makedirs(args.out, exist_ok=True)
    for path, image, sal, pred, target in zip(args.images, images, saliency, predicted, targets):
        stem = os.path.join(args.out, os.path.splitext(os.path.basename(path))[0])
        np.save(stem + "_iba.npy", sal)
        figure, ax = plt.subplots(figsize=(5, 4))
        plot_saliency_map(sal, img=image[..., 0] if image.shape[-1] == 1 else image / 255.,
                          ax=ax, colorbar_fontsize=10)
        ax.set_title("explained: {} (predicted: {})\n{:.1f} bits in total".format(
            names[target], names[pred], sal.sum()), fontsize=10)
        figure.tight_layout()
        figure.savefig(stem + "_iba.png", dpi=100)
        plt.close(figure)
        print("{}: predicted {}, explained {}, {:.1f} bits -> {}_iba.png, {}_iba.npy".format(
            path, names[pred], names[target], sal.sum(), stem, stem))


def add_hyperparameter_arguments(parser):
    """Adds the IBA hyperparameter options (``--beta`` ...) with the library's defaults."""
    from .hyperparameters import DEFAULTS
    hyper = parser.add_argument_group("IBA hyperparameters")
    hyper.add_argument("--beta", type=float, default=DEFAULTS["beta"])
    hyper.add_argument("--steps", type=int, default=DEFAULTS["steps"])
    hyper.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"],
                       help="noise samples per step")
    hyper.add_argument("--lr", type=float, default=DEFAULTS["learning_rate"])
    hyper.add_argument("--smooth-std", type=float, default=DEFAULTS["smooth_std"])
    hyper.add_argument("--min-std", type=float, default=DEFAULTS["min_std"])


def build_parser():
    from .dataset.command import add_explain_dataset_parser
    parser = argparse.ArgumentParser(
        prog="iba-tf", description="Explain a saved Keras model with the Per-Sample "
        "Information Bottleneck (IBA).")
    sub = parser.add_subparsers(dest="command")
    sub.required = True

    layers = sub.add_parser("layers", help="list the layers a bottleneck can go after")
    layers.add_argument("model", help="a Keras .h5 model")
    layers.add_argument("--custom-objects", action="append", metavar="MODULE:ATTR",
                        help="a custom layer/function the model needs (repeatable)")
    layers.set_defaults(run=command_layers)

    explain = sub.add_parser("explain", help="explain the model's predictions on images")
    explain.add_argument("model", help="a Keras .h5 model")
    explain.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    explain.add_argument("--layer", help="layer to put the bottleneck after (default: the "
                         "first at 1/8 of the input resolution; see 'iba-tf layers')")
    explain.add_argument("--target", type=int, help="class to explain (default: predicted)")
    explain.add_argument("--out", default="iba_output", help="output folder")
    explain.add_argument("--class-names", help="comma-separated names or a file, one a line")
    explain.add_argument("--preprocess", choices=sorted(PREPROCESSING), default="unit",
                         help="pixel scaling: " + "; ".join(
                             "{}: {}".format(k, v) for k, v in PREPROCESSING.items()))
    explain.add_argument("--grayscale", action="store_true",
                         help="read images as grey (automatic for 1-channel models)")
    explain.add_argument("--no-resize", action="store_true",
                         help="refuse images whose size differs from the model's input")
    explain.add_argument("--fit-dir", help="folder of images for the feature statistics "
                         "(default: the given images plus flipped/shifted/noisy copies)")
    explain.add_argument("--custom-objects", action="append", metavar="MODULE:ATTR")
    add_hyperparameter_arguments(explain)
    explain.set_defaults(run=command_explain)
    add_explain_dataset_parser(sub)
    return parser


def main(argv=None):
    """Entry point of the ``iba-tf`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except CliError as error:
        print("iba-tf: error: {}".format(error), file=sys.stderr)
        return EXIT_BAD_INPUT
    except ValueError as error:           # e.g. a hyperparameter out of range
        print("iba-tf: error: {}".format(str(error).splitlines()[0]), file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
