"""How close analyze comes to the hardware floor, batched explanations, and growth over calls.

One IBA explanation is ``steps`` optimisation steps, each a forward and backward pass of
``batch_size`` noisy copies through the tail (the model after the bottleneck). The floor is
``steps x`` the time of one tail forward+backward of ``batch_size`` samples (flow not
restricted, no IBA ops), measured in the same process; everything above it is overhead.

Prints a table and one line per target, e.g. ``vgg16 ibacopy analyze/floor = 1.02``.

    .venv/bin/python benchmarks/analyze_speed.py            # VGG16 at 224x224 and a small CNN
    .venv/bin/python benchmarks/analyze_speed.py --quick    # VGG16 at 64x64, fewer repeats
"""
import argparse
import os
import resource
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from floor import analyze_vs_floor, floor_gradient, graph_mode_tensorflow  # noqa: E402
from iba_tf.tensorflow_v1.compat import get_session  # noqa: E402


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2. ** 20


def median_time(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def vgg16_with_iba(size):
    """VGG16 (weights=None, logits) with an IBALayer after block4_conv1 (a plain chain)."""
    import keras
    from iba_tf import IBALayer
    vgg = keras.applications.VGG16(weights=None, input_shape=(size, size, 3))
    x = inputs = keras.layers.Input((size, size, 3))
    for layer in vgg.layers[1:-1]:
        x = layer(x)
        if layer.name == "block4_conv1":
            x = IBALayer(name="iba")(x)
    return keras.models.Model(inputs, keras.layers.Dense(1000, name="logits")(x))


def small_cnn_with_iba(with_iba=True):
    import keras
    from iba_tf import IBALayer
    return keras.Sequential([
        keras.layers.Conv2D(32, 3, padding="same", activation="relu", input_shape=(28, 28, 1)),
        keras.layers.Conv2D(32, 3, padding="same", strides=2, activation="relu"),
    ] + ([IBALayer(name="iba")] if with_iba else []) + [
        keras.layers.Conv2D(64, 3, padding="same", strides=2, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(10)])


def measure_layer(name, model, images, pairs):
    """analyze/floor through IBALayer."""
    import keras
    session = get_session()
    iba = model.get_layer("iba")
    target = iba.set_classification_loss(model.output)
    iba.fit({model.input: images})
    defaults = iba.get_default()
    feature_input = iba._objective.application.inputs
    floor_target, gradient = floor_gradient(model.output, feature_input)
    feature = session.run(feature_input, {model.input: images[:1]})
    feed = {feature_input: np.repeat(feature, defaults["batch_size"], 0),
            floor_target: [1] * defaults["batch_size"]}
    analyze = {model.input: images[:1], target: 1}
    timing = analyze_vs_floor(lambda: iba.analyze(analyze), lambda: session.run(gradient, feed),
                              defaults["steps"], pairs)
    return dict(name=name, via="IBALayer", **timing)


def measure_copy(name, model, layer_name, images, pairs):
    """analyze/floor through IBACopy (the same model without a layer, copied)."""
    from iba_tf import IBACopy
    iba = IBACopy(model.get_layer(layer_name).output, model.output)
    iba.fit({model.input: images})
    target = iba.set_classification_loss()
    defaults = iba.get_default()
    with iba.copied_session_and_graph_as_default():
        floor_target, gradient = floor_gradient(iba.get_copied_outputs(), iba._copy_feature)
    feature = iba.get_feature({model.input: images[:1]})
    feed = {iba._copy_feature: np.repeat(feature, defaults["batch_size"], 0),
            floor_target: [1] * defaults["batch_size"]}
    timing = analyze_vs_floor(
        lambda: iba.analyze({model.input: images[:1]}, {target: 1}),
        lambda: iba.copied_session.run(gradient, feed), defaults["steps"], pairs)
    return dict(name=name, via="IBACopy", **timing)


def plain_vgg16(size):
    import keras
    from iba_tf import model_wo_softmax
    return model_wo_softmax(keras.applications.VGG16(weights=None, input_shape=(size, size, 3)))


def plain_small_cnn():
    return small_cnn_with_iba(with_iba=False)


def fitted_small_cnn(n_images):
    """A fresh small CNN with its IBALayer fitted on random images and the loss set.

    Returns (model, iba, target placeholder, images).
    """
    import keras
    keras.backend.clear_session()
    model = small_cnn_with_iba()
    iba = model.get_layer("iba")
    target = iba.set_classification_loss(model.output)
    images = np.random.RandomState(0).rand(n_images, 28, 28, 1).astype(np.float32)
    iba.fit({model.input: images})
    return model, iba, target, images


def measure_batched(n, repeats):
    """Throughput of one analyze of n samples vs n analyze calls of one sample."""
    model, iba, target, images = fitted_small_cnn(64)
    targets = np.arange(n) % 10
    iba.analyze({model.input: images[:n], target: targets}, steps=1)
    together = median_time(lambda: iba.analyze({model.input: images[:n], target: targets}),
                           repeats)
    one_by_one = median_time(lambda: [iba.analyze({model.input: images[i:i + 1],
                                                   target: targets[i]}) for i in range(n)],
                             repeats)
    return together, one_by_one


def measure_growth(calls):
    """Op count and memory over many analyze calls (IBALayer and IBACopy)."""
    tf = graph_mode_tensorflow()
    from iba_tf import IBACopy
    model, iba, target, images = fitted_small_cnn(32)
    copy = IBACopy(model.layers[0].output, model.output)
    copy.fit({model.input: images})
    copy_target = copy.set_classification_loss()
    for _ in range(5):                                   # warm up allocators and caches
        iba.analyze({model.input: images[:1], target: 1})
        copy.analyze({model.input: images[:1]}, {copy_target: 1})
    graphs = (tf.get_default_graph(), copy.copied_graph)
    ops_before = [len(g.get_operations()) for g in graphs]
    memory_before = rss_mb()
    for i in range(calls):
        iba.analyze({model.input: images[i % 32:i % 32 + 1], target: i % 10})
        copy.analyze({model.input: images[i % 32:i % 32 + 1]}, {copy_target: i % 10})
    ops_after = [len(g.get_operations()) for g in graphs]
    return ops_before, ops_after, memory_before, rss_mb()


def measure_welford(size, n_images):
    """fit_generator throughput vs the forward pass alone, VGG16 block4_conv1 features."""
    import keras
    from iba_tf import TFWelfordEstimator
    keras.backend.clear_session()
    model = plain_vgg16(size)
    feature = model.get_layer("block4_conv1").output
    session = get_session()
    images = np.random.RandomState(0).rand(n_images, size, size, 3).astype(np.float32) * 255
    batches = [images[i:i + 8] for i in range(0, n_images, 8)]
    session.run(feature, {model.input: batches[0]})
    forward = median_time(lambda: [session.run(feature, {model.input: b}) for b in batches], 1)
    estimator = TFWelfordEstimator(feature)
    fitting = median_time(lambda: estimator.fit_generator(
        ({model.input: b} for b in batches), progbar=False), 1)
    return forward, fitting


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="VGG16 at 64x64, fewer repeats")
    args = parser.parse_args()
    import keras
    tf = graph_mode_tensorflow()
    tf.logging.set_verbosity(tf.logging.ERROR)
    size = 64 if args.quick else 224
    repeats = 1 if args.quick else 3
    pairs = 2 if args.quick else 5
    rng = np.random.RandomState(0)
    rows = []

    vgg_images = rng.rand(8, size, size, 3).astype(np.float32) * 255
    rows.append(measure_layer("vgg16", vgg16_with_iba(size), vgg_images, pairs))
    keras.backend.clear_session()
    rows.append(measure_copy("vgg16", plain_vgg16(size), "block4_conv1", vgg_images, pairs))
    keras.backend.clear_session()
    cnn_images = rng.rand(64, 28, 28, 1).astype(np.float32)
    rows.append(measure_layer("small cnn", small_cnn_with_iba(), cnn_images, pairs * 10))
    keras.backend.clear_session()
    cnn = plain_small_cnn()
    rows.append(measure_copy("small cnn", cnn, cnn.layers[1].name, cnn_images, pairs * 10))

    together, one_by_one = measure_batched(8, repeats * 3)
    ops_before, ops_after, memory_before, memory_after = measure_growth(20 if args.quick
                                                                        else 100)
    forward, fitting = measure_welford(size, 16 if args.quick else 64)

    print("machine: {} cores; VGG16 (weights=None) at {}x{}, bottleneck at block4_conv1; "
          "defaults: 10 steps x 10 noise samples".format(os.cpu_count(), size, size))
    print("| model | via | analyze s | floor s | analyze/floor |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| {name} | {via} | {analyze:.3f} | {floor:.3f} | {ratio:.3f} |".format(**row))
    for row in rows:
        print("{} {} analyze/floor = {:.3f}".format(
            row["name"].replace(" ", "_"), row["via"].lower(), row["ratio"]))
    print("batched analyze of 8 (small cnn): {:.3f} s together, {:.3f} s one by one".format(
        together, one_by_one))
    print("small_cnn batched throughput (8 together / 8 sequential) = {:.2f}x".format(
        one_by_one / together))
    calls = 20 if args.quick else 100
    print("op growth over {} analyze calls: IBALayer graph {} -> {}, IBACopy graph {} -> {}"
          .format(calls, ops_before[0], ops_after[0], ops_before[1], ops_after[1]))
    print("memory over {} analyze calls (each through IBALayer and IBACopy) = {:.0f} MB -> "
          "{:.0f} MB ({:+.1f} MB)".format(calls, memory_before, memory_after,
                                          memory_after - memory_before))
    print("welford fit_generator / forward pass alone (vgg16 block4_conv1) = {:.2f} "
          "({:.2f} s vs {:.2f} s)".format(fitting / forward, fitting, forward))


if __name__ == "__main__":
    main()
