"""Quickstart: train a small CNN with an IBALayer inside, then explain its predictions.

The data are made on the spot: each 32x32 image holds one bright square on noise, and the
class is the quadrant the square lies in. The model must look at the square, so a good
attribution puts its bits there; the script prints the share of each map that falls on the
square and writes a figure.

Run ``python -m iba_tf.examples.quickstart --out DIR`` (``make demo`` does).
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

SIZE, SQUARE = 32, 8


def make_data(n, rng):
    """Returns images ``(n, 32, 32, 1)``, quadrant labels ``(n,)`` and square masks."""
    images = rng.normal(0., 0.3, size=(n, SIZE, SIZE, 1)).astype("float32")
    masks = np.zeros((n, SIZE, SIZE), bool)
    labels = rng.randint(0, 4, size=n)
    for i, label in enumerate(labels):
        half = SIZE // 2
        top = rng.randint(0, half - SQUARE + 1) + half * (label // 2)
        left = rng.randint(0, half - SQUARE + 1) + half * (label % 2)
        masks[i, top:top + SQUARE, left:left + SQUARE] = True
    images[masks] += 1.5
    return images, labels, masks


def build_model():
    import keras
    from iba_tf import IBALayer
    return keras.Sequential([
        keras.layers.Conv2D(16, 3, padding="same", activation="relu",
                            input_shape=(SIZE, SIZE, 1)),
        keras.layers.Conv2D(32, 3, padding="same", strides=2, activation="relu"),
        IBALayer(name="iba"),
        keras.layers.Conv2D(32, 3, padding="same", strides=2, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(4),                               # logits: IBA needs no softmax
    ])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo_output", help="folder for the figure")
    parser.add_argument("--train", type=int, default=3000, help="training images")
    parser.add_argument("--explain", type=int, default=6, help="test images to explain")
    args = parser.parse_args(argv)

    import keras
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import tensorflow as tf
    tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)

    from iba_tf import plot_saliency_map, to_saliency_map

    rng = np.random.RandomState(0)
    tf.set_random_seed(0)
    x_train, y_train, _ = make_data(args.train, rng)
    x_test, y_test, masks = make_data(200, rng)

    model = build_model()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    print("Training a small CNN with an IBALayer after its second convolution ...")
    model.fit(x_train, y_train, epochs=5, batch_size=64, verbose=2)
    accuracy = float((model.predict(x_test).argmax(1) == y_test).mean())
    print("Test accuracy: {:.1%} (4 classes: the quadrant of the square)".format(accuracy))

    iba = model.get_layer("iba")
    target = iba.set_classification_loss(model.output)
    print("Estimating the feature mean and std at the bottleneck ...")
    iba.fit_generator(({model.input: x_train[i:i + 100]} for i in range(0, len(x_train), 100)),
                      n_samples=len(x_train))

    predictions = model.predict(x_test[:args.explain]).argmax(1)
    os.makedirs(args.out, exist_ok=True)
    columns = min(args.explain, 6)
    rows = int(np.ceil(args.explain / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3 * rows), squeeze=False)
    seconds, shares, peaks = [], [], []
    for i, ax in enumerate(axes.flat):
        if i >= args.explain:
            ax.axis("off")
            continue
        start = time.time()
        capacity = iba.analyze({model.input: x_test[i:i + 1], target: predictions[i]})
        seconds.append(time.time() - start)
        saliency = to_saliency_map(capacity, (SIZE, SIZE))
        shares.append(saliency[masks[i]].sum() / saliency.sum())
        peaks.append(masks[i].flat[saliency.argmax()])
        plot_saliency_map(saliency, img=x_test[i, ..., 0], ax=ax, colorbar_fontsize=9)
        ax.set_title("class {} (true {}): {:.0%} on square".format(
            predictions[i], y_test[i], shares[-1]), fontsize=9)
    figure.suptitle("IBA saliency (bits/pixel) of a CNN that finds the square's quadrant")
    figure.tight_layout()
    path = os.path.join(args.out, "quickstart_saliency.png")
    figure.savefig(path, dpi=100)

    area = SQUARE * SQUARE / float(SIZE * SIZE)
    print("Explained {} test images: {:.2f} s per explanation (10 steps x 10 noise samples)."
          .format(len(seconds), float(np.mean(seconds))))
    print("Share of the bits on the square: mean {:.0%} (the square covers {:.0%} of the "
          "image); the most salient pixel lies on the square in {} of {} maps.".format(
              float(np.mean(shares)), area, int(np.sum(peaks)), len(peaks)))
    print("Figure written to {}".format(os.path.abspath(path)))
    return dict(accuracy=accuracy, shares=shares, peaks=peaks, seconds=seconds, figure=path)


if __name__ == "__main__":
    main()
