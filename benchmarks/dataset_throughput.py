"""Throughput of explain-dataset with 1 and 2 local Dask workers, and on an external cluster.

Explains the same images (random, saved as an .npy file) with a small CNN, once with one
local worker and once with two, and prints the ratio of the throughputs (items per second
of the explaining phase, after the start-up; the start-up is printed separately). Target:
at least 1.7x on a quiet machine with 2 cores (issue 9).

Then, right after the 2-worker LocalCluster, the same run on an external cluster: the
``dask-scheduler`` and ``dask-worker --nworkers 2 --nthreads 1`` commands started as processes
on 127.0.0.1 (``--scheduler``), and prints its throughput over the LocalCluster's. Target:
at least 0.9x (issue 19). ``--no-external`` skips it.

By default every worker gets one TensorFlow thread (--tf-threads 1), so the ratio measures
how the workers scale; ``--tf-threads auto`` uses the command's default (cores / workers:
the 1-worker run then gets all cores as threads).

    .venv/bin/python benchmarks/dataset_throughput.py            # 64 images
    .venv/bin/python benchmarks/dataset_throughput.py --images 8  # a quick check

``--model FILE.h5 --layer NAME`` explains a saved model instead of the built-in CNN (images of
its input shape), e.g. the MNIST CNN of issue 18, saved once and then measured before and after
a change (set ``PYTHONPATH`` to the tree to measure)::

    .venv/bin/python -c "from iba_tf.examples.mnist_cnn import build_mnist_cnn; \
        build_mnist_cnn().save('/tmp/mnist_cnn.h5')"
    .venv/bin/python benchmarks/dataset_throughput.py --model /tmp/mnist_cnn.h5 --layer conv2

The last lines read ``dataset explain throughput 2 workers / 1 worker = 1.85x`` and
``dataset explain throughput external cluster / LocalCluster (2 workers) = 0.97x``.
"""
import argparse
import os
import tempfile
import warnings


def build_model(path, size, classes=10):
    """Saves a small CNN (about the cost per item of a CIFAR-sized network) to ``path``."""
    import keras
    model = keras.Sequential([
        keras.layers.Conv2D(16, 3, padding="same", activation="relu",
                            input_shape=(size, size, 3), name="conv1"),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2"),
        keras.layers.MaxPooling2D(name="pool1"),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv3"),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv4"),
        keras.layers.MaxPooling2D(name="pool2"),
        keras.layers.Conv2D(64, 3, padding="same", activation="relu", name="conv5"),
        keras.layers.GlobalAveragePooling2D(name="gap"),
        keras.layers.Dense(classes, activation="softmax", name="out")])
    model.save(path)
    keras.backend.clear_session()


def input_shape_of(path):
    """The ``(height, width, channels)`` a saved model takes."""
    import keras
    shape = tuple(keras.models.load_model(path, compile=False).input_shape[1:])
    keras.backend.clear_session()
    return shape


def run(model, images, out, workers, args, scheduler=None):
    """Explains every image with ``workers`` local workers (or on the cluster of
    ``scheduler``); returns the RunSummary."""
    from iba_tf.dataset import explain_dataset
    return explain_dataset(
        model, images, out, layer=args.layer, targets="predicted", preprocess="unit",
        steps=args.steps, batch_size=args.batch_size, fit_samples=min(64, args.images),
        chunk_size=args.chunk_size, workers=None if scheduler else workers,
        scheduler=scheduler,
        tf_threads=None if args.tf_threads == "auto" else int(args.tf_threads),
        overwrite=True, progress=False, log=None)


def report(name, summary):
    """Prints one run's throughput and start-up."""
    print("{}: {:.2f} items/s ({} items in {:.2f} s); start-up {:.1f} s (per-worker model "
          "load + graph copy: {})".format(
              name, summary.items_per_second, summary.explained, summary.explain_seconds,
              summary.startup_seconds,
              ", ".join("{:.1f} s".format(s) for s in summary.load_seconds)))


def run_external(model, images, out, args):
    """The same run on ``dask-scheduler`` + ``dask-worker --nworkers 2`` processes."""
    from iba_tf.dataset.loopback import LoopbackCluster
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.pathsep.join([root] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    threads = "1" if args.tf_threads == "auto" else args.tf_threads
    env = {"PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": threads,
           "MKL_NUM_THREADS": threads}
    with LoopbackCluster(env=env) as cluster:
        cluster.add_worker("--nworkers", "2")
        cluster.wait_for_workers(2)
        return run(model, images, out, 2, args, scheduler=cluster.address)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64, help="images to explain (64)")
    parser.add_argument("--size", type=int, default=64, help="image height and width (64)")
    parser.add_argument("--steps", type=int, default=10, help="IBA steps (10)")
    parser.add_argument("--batch-size", type=int, default=10, help="IBA noise samples (10)")
    parser.add_argument("--chunk-size", type=int, default=4, help="items per task (4)")
    parser.add_argument("--tf-threads", default="1",
                        help="TensorFlow threads per worker, or 'auto' (1)")
    parser.add_argument("--no-external", action="store_true",
                        help="skip the external-cluster run")
    parser.add_argument("--model", metavar="FILE.h5",
                        help="a saved model to explain instead of the built-in CNN")
    parser.add_argument("--layer", help="the bottleneck's layer (pool1 of the built-in CNN)")
    args = parser.parse_args(argv)
    if args.model and not args.layer:
        parser.error("--model needs --layer")
    args.layer = args.layer or "pool1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore")
    import numpy as np
    from iba_tf.dataset.worker import cpu_count

    with tempfile.TemporaryDirectory(prefix="iba-tf-bench-") as folder:
        if args.model:
            model, shape = os.path.abspath(args.model), input_shape_of(args.model)
        else:
            model, shape = os.path.join(folder, "cnn.h5"), (args.size, args.size, 3)
            build_model(model, args.size)
        images = os.path.join(folder, "images.npy")
        np.save(images, (np.random.RandomState(0).rand(args.images, *shape)
                         * 255).astype(np.uint8))
        print("{} images of {}, {} at {}, {} steps x {} noise samples, {} items per task, "
              "TensorFlow threads per worker: {}, cores here: {}".format(
                  args.images, "x".join(map(str, shape)), args.model or "small CNN",
                  args.layer, args.steps, args.batch_size, args.chunk_size, args.tf_threads,
                  cpu_count()))
        rates = {}
        for workers in (1, 2):
            summary = run(model, images, os.path.join(folder, "w{}.h5".format(workers)),
                          workers, args)
            assert summary.done == args.images, summary
            rates[workers] = summary.items_per_second
            report("{} worker{}".format(workers, "s" if workers > 1 else " "), summary)
        if not args.no_external:
            summary = run_external(model, images, os.path.join(folder, "external.h5"), args)
            assert summary.done == args.images, summary
            rates["external"] = summary.items_per_second
            report("external cluster, 2 workers", summary)
    print("dataset explain throughput 2 workers / 1 worker = {:.2f}x".format(rates[2] / rates[1]))
    if "external" in rates:
        print("dataset explain throughput external cluster / LocalCluster (2 workers) = "
              "{:.2f}x".format(rates["external"] / rates[2]))


if __name__ == "__main__":
    main()
