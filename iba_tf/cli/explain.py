"""``iba-tf explain MODEL IMAGE ...``: one saliency map (``.npy``) and overlay (``.png``)
per image."""
import os

from ..checks import check_targets
from ..errors import InputError
from ..images import PREPROCESSING, list_images, load_image, preprocess
from ..dataset.options import check_input_resolution
from .common import (INPUT_RESOLUTION_NOTE, add_hyperparameter_arguments,
                     add_input_resolution_argument, add_layer_argument, add_model_arguments,
                     hyperparameters_from_args, input_stage_from_args, load_model)

__all__ = ["add_parser", "run", "output_stems", "MIN_FIT_SAMPLES"]

# Fallback statistics: with fewer images than this, flipped/shifted/noisy copies are added.
MIN_FIT_SAMPLES = 32


def add_parser(subparsers):
    """Adds the ``explain`` subcommand to ``subparsers``; returns its parser."""
    parser = subparsers.add_parser("explain", help="explain the model's predictions on images")
    add_model_arguments(parser)
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    add_layer_argument(parser)
    parser.add_argument("--target", type=int, help="class to explain (default: predicted)")
    parser.add_argument("--out", default="iba_output", help="output folder")
    parser.add_argument("--class-names", help="comma-separated names or a file, one a line")
    parser.add_argument("--preprocess", choices=sorted(PREPROCESSING), default="unit",
                        help="pixel scaling: " + "; ".join(
                            "{}: {}".format(k, v) for k, v in PREPROCESSING.items()))
    parser.add_argument("--grayscale", action="store_true",
                        help="read images as grey (automatic for 1-channel models)")
    parser.add_argument("--no-resize", action="store_true",
                        help="refuse images whose size differs from the model's input")
    parser.add_argument("--fit-dir", help="folder of images for the feature statistics "
                        "(default: the given images plus flipped/shifted/noisy copies)")
    parser.add_argument("--readout", metavar="FILE.npz", help="explain with this trained "
                        "Readout Bottleneck (from 'iba-tf train-readout'): one pass per batch, "
                        "for the predicted class")
    add_input_resolution_argument(parser)
    add_hyperparameter_arguments(parser, INPUT_RESOLUTION_NOTE, input_stage=True)
    parser.set_defaults(run=run)
    return parser


def run(args):
    """Explains ``args.images`` with ``args.model`` into ``args.out``.

    The output names (``OUT/<image name without extension>_iba.npy`` and ``.png``) must be
    unique: images with the same name (``a/cat.png``, ``b/cat.jpg``) are refused before any
    work, as is an ``--out`` that is a file or cannot be created.
    """
    import numpy as np
    check_input_resolution(args.input_resolution, args.readout)
    hyperparameters = dict(hyperparameters_from_args(args), **input_stage_from_args(args))
    stems = output_stems(args.images, args.out)
    model = load_model(args)
    images = read_images(args.images, model, args.grayscale, not args.no_resize)
    n_classes = int(model.output.shape[-1])
    names = _class_names(args.class_names, n_classes)
    if args.target is not None:
        check_targets(args.target, 1, n_classes, name="--target")
    explainer = _explainer(model, args, hyperparameters, images)
    x = preprocess(np.stack(images), args.preprocess)
    maps, targets, predicted = explainer.explain(x, args.target)
    for path, stem, image, saliency, target, pred in zip(args.images, stems, images, maps,
                                                         targets, predicted):
        np.save(stem + "_iba.npy", saliency)
        _save_overlay(stem + "_iba.png", image, saliency, "explained: {} (predicted: {})"
                      .format(names[target], names[pred]))
        print("{}: predicted {}, explained {}, {:.1f} bits -> {}_iba.png, {}_iba.npy".format(
            path, names[pred], names[target], saliency.sum(), stem, stem))


def output_stems(paths, out):
    """The output path without suffix (``OUT/NAME``) of each image, checked before any work.

    Raises:
        InputError: two images would give the same output files, or ``out`` is a file or
            cannot be created as a folder.
    """
    _check_folder(out)
    stems, seen = [], {}
    for path in paths:
        stem = os.path.join(out, os.path.splitext(os.path.basename(path))[0])
        key = os.path.normcase(stem)
        if key in seen:
            raise InputError("{} and {} would both be saved as {}_iba.npy and .png: output "
                             "names come from the file name without its extension; rename "
                             "one, or explain them in separate runs with different --out"
                             .format(seen[key], path, stem))
        seen[key] = path
        stems.append(stem)
    return stems


def _check_folder(out):
    """Refuses an ``--out`` that is a file, lies under a file, or lies in a read-only folder."""
    path = os.path.abspath(out)
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    if not os.path.isdir(path):
        where = "is a file" if path == os.path.abspath(out) else \
            "cannot be created: {} is a file".format(path)
        raise InputError("--out {} {}; give a folder for the maps and overlays".format(
            out, where))
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError("--out {} cannot be written: no write permission in {}; give another "
                         "folder".format(out, path))


def _make_folder(out):
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as error:
        raise InputError("--out {} cannot be created: {}; give another folder".format(
            out, error.strerror or error)) from None


def _explainer(model, args, hyperparameters, images):
    """The fitted ModelAnalyzer (InputModelAnalyzer with ``--input-resolution``), or with
    ``--readout`` the loaded ReadoutModelAnalyzer."""
    from ..tensorflow_v1.model_analyzer import (InputModelAnalyzer, ModelAnalyzer,
                                                ReadoutModelAnalyzer)
    if args.readout:
        for given, option in ((args.target is not None, "--target"), (args.fit_dir, "--fit-dir")):
            if given:
                raise InputError("{} does not go with --readout: the readout explains the "
                                 "predicted class with the statistics in its file; drop {}"
                                 .format(option, option))
        explainer = ReadoutModelAnalyzer.load(model, args.readout, args.layer)
    else:
        kind = InputModelAnalyzer if args.input_resolution else ModelAnalyzer
        explainer = kind.build(model, args.layer, explain_predicted=args.target is None,
                               **hyperparameters)
    if explainer.softmax_removed:
        print("The model ends with a softmax: explaining its logits.")
    _make_folder(args.out)         # after the checks of the readout, before the work
    if not args.readout:
        _fit(explainer, args, images)
    return explainer


def read_images(paths, model, grayscale, resize):
    """Reads image files at the model's input size (0..255, float).

    Raises:
        InputError: the model takes no images, an image is missing or unreadable, or (without
            ``resize``) of another size.
    """
    from ..tensorflow_v1.models import image_input_shape
    height, width, channels = image_input_shape(model)
    grayscale = grayscale or channels == 1
    if grayscale and channels == 3:
        raise InputError("--grayscale gives 1 channel, but the model expects 3 (RGB); drop "
                         "--grayscale")
    images = []
    for path in paths:
        try:
            image = load_image(path, None if not resize else (height, width), grayscale)
        except (FileNotFoundError, ValueError) as error:
            raise InputError(str(error))
        if image.shape[:2] != (height, width):
            raise InputError("image {} is {}x{}, the model expects {}x{}; leave out "
                             "--no-resize to resize it".format(
                                 path, image.shape[0], image.shape[1], height, width))
        images.append(image)
    return images


def _fit(explainer, args, images):
    """Estimates the feature statistics (with ``--input-resolution`` also the input's) on
    ``--fit-dir`` or on the images and variants."""
    import numpy as np
    analyzer = explainer.analyzer
    what = "feature and input" if args.input_resolution else "feature"
    if args.fit_dir:
        files = list_images(args.fit_dir)
        if not files:
            raise InputError("no image files in --fit-dir {}".format(args.fit_dir))
        fit_images = read_images(files, explainer.logits_model, args.grayscale, True)
        print("Estimating the {} statistics on {} images from {}".format(
            what, len(fit_images), args.fit_dir))
        analyzer.fit(preprocess(np.stack(fit_images), args.preprocess), progbar=True)
    else:
        fit_images = _fit_samples(images, np.random.RandomState(0))
        print("Estimating the {} statistics on the {} given image(s) and {} flipped, "
              "shifted and noisy copies (use --fit-dir with representative images for better "
              "statistics)".format(what, len(images), len(fit_images) - len(images)))
        analyzer.fit(preprocess(fit_images, args.preprocess))


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
        raise InputError("--class-names gives {} names, the model has {} outputs".format(
            len(names), n_classes))
    return names


def _save_overlay(path, image, saliency, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from ..plotting import plot_saliency_map
    figure, ax = plt.subplots(figsize=(5, 4))
    plot_saliency_map(saliency, img=image[..., 0] if image.shape[-1] == 1 else image / 255.,
                      ax=ax, colorbar_fontsize=10)
    ax.set_title("{}\n{:.1f} bits in total".format(title, saliency.sum()), fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
