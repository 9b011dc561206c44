"""InputIBA's two priors (``prior="feature"`` vs ``prior="gan"``) on the selection images.

The images ``docs/input_iba.md`` chose the input stage's defaults on, which the published
evaluation (``attribution_quality.py``) does not use: MNIST test digits that the CNN classifies
correctly from the 201st such digit on (the published evaluation takes the first 200), and the
mirror images of the evaluation's faces. Models, statistics, degradation (blurred image,
target logit, every tile a step) as in ``attribution_quality.py``.

    .venv/bin/python benchmarks/input_prior_selection.py --digits 20 --faces 10

Prints, per task and prior, the degradation area at two tile sizes (mean +- s.e. over the
images), the paired difference gan - feature, and the seconds per explanation; writes them as
JSON to ``--out``.
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

PRIORS = ("feature", "gan")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=int, default=20, help="MNIST digits (0: skip)")
    parser.add_argument("--faces", type=int, default=10, help="mirrored faces (0: skip)")
    parser.add_argument("--iterations", type=int, default=None,
                        help="GAN generator steps (default: GAN_DEFAULTS)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(
        __file__)), "output", "input_prior_selection.json"))
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def mnist_task(args):
    """(model, images, targets, fit data, layer, tiles) of the MNIST selection digits."""
    from iba_tf.examples.data import load_mnist
    from iba_tf.examples.mnist_cnn import train_mnist_cnn
    x_train, y_train, x_test, y_test = load_mnist(test_size=1000, seed=args.seed)
    model = train_mnist_cnn(x_train, y_train, epochs=5, seed=args.seed)
    correct = np.flatnonzero(model.predict(x_test).argmax(1) == y_test)[200:200 + args.digits]
    return model, x_test[correct], y_test[correct], x_train[:2000], "conv2", (4, 7)


def fer_task(args):
    """The same for the mirror images of the evaluation's faces."""
    from iba_tf.examples.data import load_faces, load_fer_model
    model = load_fer_model(logits=True)
    faces, names = load_faces(size=64)
    order = [names.index("astronaut"), names.index("grace_hopper")] + [
        i for i, n in enumerate(names) if n.startswith("lfw_")]
    X = faces[order[:args.faces], :, ::-1]
    fit = np.concatenate([faces, faces[:, :, ::-1]])
    return model, X, model.predict(X).argmax(1), fit, "add_3", (4, 8)


def compare(task, model, X, targets, fit, layer, tiles, args):
    """Explains X with both priors; returns {prior: {tile: (areas...), "seconds": s}}."""
    from iba_tf import InputIBA
    from iba_tf.evaluation import degradation_test
    gan = {} if args.iterations is None else dict(iterations=args.iterations)
    analyzer = InputIBA(model, neuron_selection_mode="index", feature_name=layer,
                        gan_settings=gan)
    analyzer.fit(fit)
    results = {}
    for prior in PRIORS:
        start = time.perf_counter()
        maps = analyzer.analyze(X, neuron_selection=targets, prior=prior)
        seconds = (time.perf_counter() - start) / len(X)
        row = dict(seconds=seconds)
        for tile in tiles:
            result = degradation_test(model, X, attributions=maps, targets=targets,
                                      tile_size=tile, seed=args.seed)
            row[tile] = result.sample_areas.tolist()
        results[prior] = row
        print("{} {:<8} {} {:.2f} s/expl.".format(task, prior, "  ".join(
            "{} px {:.3f} +- {:.3f}".format(t, np.mean(row[t]), _sem(row[t])) for t in tiles),
            seconds), flush=True)
    for tile in tiles:
        diff = np.subtract(results["gan"][tile], results["feature"][tile])
        print("{} {} px: gan - feature {:+.3f} +- {:.3f} ({} images)".format(
            task, tile, diff.mean(), _sem(diff), len(diff)), flush=True)
    return results


def _sem(values):
    values = np.asarray(values, np.float64)
    return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.


def main(argv=None):
    args = parse_args(argv)
    import keras
    from iba_tf.tensorflow_v1.compat import tf
    out = {}
    for task, count, load in (("mnist", args.digits, mnist_task), ("fer", args.faces, fer_task)):
        if count <= 0:
            continue
        keras.backend.clear_session()
        tf.set_random_seed(args.seed)
        model, X, targets, fit, layer, tiles = load(args)
        out[task] = compare(task, model, X, targets, fit, layer, tiles, args)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
