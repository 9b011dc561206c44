"""IBACopy on VGG16 (weights=None, 224x224) at block4_conv1: build cost and analyze vs floor.

Each part runs in its own process so that its peak memory can be read:

- ``model``: the Keras model alone (build, one prediction).
- ``whole``: a whole-graph copy as the reference implementation makes it (variables frozen to
  constants with ``convert_variables_to_constants``, the whole graph imported with the feature
  replaced).
- ``ibacopy``: iba_tf's IBACopy (only the tail after the feature, variables as variables),
  then the time of ``analyze`` with the defaults against the floor
  ``steps x (one forward+backward of the tail for batch_size samples)``, the two timed
  alternately in the same process (see ``floor.py``).

    .venv/bin/python benchmarks/ibacopy_vgg16.py
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from floor import analyze_vs_floor, floor_gradient, graph_mode_tensorflow  # noqa: E402
from iba_tf.tensorflow_v1.compat import get_session  # noqa: E402

LAYER = "block4_conv1"


def peak_rss_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024. ** 2


def build_model(size):
    import keras
    from iba_tf import model_wo_softmax
    return model_wo_softmax(keras.applications.VGG16(weights=None, input_shape=(size, size, 3)))


def run_model(args):
    import numpy as np
    model = build_model(args.size)
    model.predict(np.zeros((1, args.size, args.size, 3), np.float32))
    return {}


def run_whole(args):
    import numpy as np
    import keras
    tf = graph_mode_tensorflow()
    model = build_model(args.size)
    model.predict(np.zeros((1, args.size, args.size, 3), np.float32))
    session = get_session()
    feature = model.get_layer(LAYER).output
    start = time.perf_counter()
    frozen = tf.graph_util.convert_variables_to_constants(
        session, session.graph.as_graph_def(), [model.output.op.name])
    copy_graph = tf.Graph()
    with copy_graph.as_default():
        replacement = tf.placeholder(tf.float32, feature.shape)
        tf.import_graph_def(frozen, input_map={feature.name: replacement}, name="copy")
    seconds = time.perf_counter() - start
    constant_bytes = sum(node.attr["value"].tensor.ByteSize() for node in frozen.node
                         if node.op == "Const")
    return dict(build_s=seconds, copy_ops=len(copy_graph.get_operations()),
                variable_bytes=constant_bytes)


def run_ibacopy(args):
    import numpy as np
    tf = graph_mode_tensorflow()
    from iba_tf import IBACopy
    model = build_model(args.size)
    images = np.random.RandomState(0).rand(args.fit, args.size, args.size, 3).astype(
        np.float32) * 255
    model.predict(images[:1])
    start = time.perf_counter()
    iba = IBACopy(model.get_layer(LAYER).output, model.output)
    build_s = time.perf_counter() - start
    build_peak = peak_rss_gb()
    copy_ops = len(iba.copied_graph.get_operations())
    tail_ops = sum(op.name.startswith("copy/") for op in iba.copied_graph.get_operations())
    variable_bytes = sum(
        tf.as_dtype(v.get_attr("dtype")).size * tf.TensorShape(v.get_attr("shape")).num_elements()
        for v in iba._tail.variables)
    for i in range(0, args.fit, 4):
        iba.fit({model.input: images[i:i + 4]})
    target = iba.set_classification_loss()
    defaults = iba.get_default()

    with iba.copied_session_and_graph_as_default():
        floor_target, gradient = floor_gradient(iba.get_copied_outputs(), iba._copy_feature)
    features = np.repeat(iba.get_feature({model.input: images[:1]}), defaults["batch_size"], 0)
    floor_feed = {iba._copy_feature: features, floor_target: [1] * defaults["batch_size"]}
    timing = analyze_vs_floor(lambda: iba.analyze({model.input: images[:1]}, {target: 1}),
                              lambda: iba.copied_session.run(gradient, floor_feed),
                              defaults["steps"], args.pairs)
    return dict(build_s=build_s, copy_ops=copy_ops, tail_ops=tail_ops,
                variable_bytes=variable_bytes,
                build_peak_gb=build_peak, analyze_s=timing["analyze"],
                floor_s=timing["floor"], ratio=timing["ratio"], steps=defaults["steps"],
                batch_size=defaults["batch_size"], original_ops=len(
                    model.input.graph.get_operations()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--fit", type=int, default=16, help="images for the statistics")
    parser.add_argument("--pairs", type=int, default=3,
                        help="analyze and floor timings, taken alternately")
    parser.add_argument("--part", choices=["model", "whole", "ibacopy"])
    args = parser.parse_args()
    graph_mode_tensorflow()
    if args.part:
        result = globals()["run_" + args.part](args)
        result["peak_gb"] = peak_rss_gb()
        print("RESULT " + json.dumps(result))
        return
    results = {}
    for part in ("model", "whole", "ibacopy"):
        out = subprocess.run([sys.executable, __file__, "--part", part, "--size", str(args.size),
                              "--fit", str(args.fit), "--pairs", str(args.pairs)],
                             stdout=subprocess.PIPE, check=True).stdout.decode()
        results[part] = json.loads(out.split("RESULT ", 1)[1])
    model, whole, ours = results["model"], results["whole"], results["ibacopy"]
    print("VGG16 (weights=None) {0}x{0}, bottleneck at {1}; {2} cores".format(
        args.size, LAYER, os.cpu_count()))
    print("| copy | build s | ops in the copy | variable MB | peak GB (model alone {:.2f}) |"
          .format(model["peak_gb"]))
    print("|---|---|---|---|---|")
    print("| whole graph, frozen (reference) | {:.2f} | {} | {:.0f} | {:.2f} |".format(
        whole["build_s"], whole["copy_ops"], whole["variable_bytes"] / 1e6, whole["peak_gb"]))
    print("| IBACopy (tail only) | {:.2f} | {} ({} of the model's tail) | {:.0f} | {:.2f} |"
          .format(ours["build_s"], ours["copy_ops"], ours["tail_ops"],
                  ours["variable_bytes"] / 1e6, ours["build_peak_gb"]))
    print("original graph: {} ops".format(ours["original_ops"]))
    print("analyze (defaults: {} steps x {} noise samples): {:.2f} s; floor {:.2f} s".format(
        ours["steps"], ours["batch_size"], ours["analyze_s"], ours["floor_s"]))
    print("vgg16 ibacopy build whole/ours = {:.1f}x".format(whole["build_s"] / ours["build_s"]))
    print("vgg16 ibacopy peak/model alone = {:.2f} (whole-graph copy: {:.2f})".format(
        ours["build_peak_gb"] / model["peak_gb"], whole["peak_gb"] / model["peak_gb"]))
    print("vgg16 ibacopy analyze/floor = {:.3f} (median of {} adjacent pairs)".format(
        ours["ratio"], args.pairs))


if __name__ == "__main__":
    main()
