"""Throughput of explain-dataset with 1 and with 2 local Dask workers (issue 9).

Explains the same images (random, saved as an .npy file) with a small CNN, once with one
local worker and once with two, and prints the ratio of the throughputs (items per second
of the explaining phase, after the start-up; the start-up is printed separately). Target:
at least 1.7x on a quiet machine with 2 cores.

By default every worker gets one TensorFlow thread (--tf-threads 1), so the ratio measures
how the workers scale; ``--tf-threads auto`` uses the command's default (cores / workers:
the 1-worker run then gets all cores as threads).

    .venv/bin/python benchmarks/dataset_throughput.py            # 64 images
    .venv/bin/python benchmarks/dataset_throughput.py --images 8  # a quick check

The last line reads ``dataset explain throughput 2 workers / 1 worker = 1.85x``.
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


def run(model, images, out, workers, args):
    """Explains every image with ``workers`` local workers; returns the RunSummary."""
    from iba_tf.dataset import explain_dataset
    return explain_dataset(
        model, images, out, layer="pool1", targets="predicted", preprocess="unit",
        steps=args.steps, batch_size=args.batch_size, fit_samples=min(64, args.images),
        chunk_size=args.chunk_size, workers=workers,
        tf_threads=None if args.tf_threads == "auto" else int(args.tf_threads),
        overwrite=True, progress=False, log=None)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64, help="images to explain (64)")
    parser.add_argument("--size", type=int, default=64, help="image height and width (64)")
    parser.add_argument("--steps", type=int, default=10, help="IBA steps (10)")
    parser.add_argument("--batch-size", type=int, default=10, help="IBA noise samples (10)")
    parser.add_argument("--chunk-size", type=int, default=4, help="items per task (4)")
    parser.add_argument("--tf-threads", default="1",
                        help="TensorFlow threads per worker, or 'auto' (1)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore")
    import numpy as np
    from iba_tf.dataset.worker import cpu_count

    with tempfile.TemporaryDirectory(prefix="iba-tf-bench-") as folder:
        model = os.path.join(folder, "cnn.h5")
        images = os.path.join(folder, "images.npy")
        build_model(model, args.size)
        np.save(images, (np.random.RandomState(0).rand(args.images, args.size, args.size, 3)
                         * 255).astype(np.uint8))
        print("{} images of {}x{}, small CNN, {} steps x {} noise samples, {} items per task, "
              "TensorFlow threads per worker: {}, cores here: {}".format(
                  args.images, args.size, args.size, args.steps, args.batch_size,
                  args.chunk_size, args.tf_threads, cpu_count()))
        rates = {}
        for workers in (1, 2):
            summary = run(model, images, os.path.join(folder, "w{}.h5".format(workers)),
                          workers, args)
            assert summary.done == args.images, summary
            rates[workers] = summary.items_per_second
            print("{} worker{}: {:.2f} items/s ({} items in {:.2f} s); start-up {:.1f} s "
                  "(per-worker model load + graph copy: {})".format(
                      workers, "s" if workers > 1 else " ", summary.items_per_second,
                      summary.explained, summary.explain_seconds, summary.startup_seconds,
                      ", ".join("{:.1f} s".format(s) for s in summary.load_seconds)))
    print("dataset explain throughput 2 workers / 1 worker = {:.2f}x".format(rates[2] / rates[1]))


if __name__ == "__main__":
    main()
