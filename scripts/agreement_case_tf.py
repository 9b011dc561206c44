"""Writes the TensorFlow side of the TF / PyTorch agreement test as an .npz file.

Run with a TensorFlow venv (TF 1.15 in ``.venv`` or TF 2.14 in ``.venv-tf2``)::

    .venv/bin/python scripts/agreement_case_tf.py --out case.npz

It builds a small deterministic Keras CNN with an ``IBALayer`` after the first convolution::

    input (16, 16, 3) -> conv1 3x3x8 'same' + relu -> IBALayer
      -> conv2 3x3x8 stride 2 'valid' + relu -> Flatten -> Dense(4) (logits)

with weights drawn from a seeded numpy generator (no TensorFlow randomness), fits the
bottleneck's statistics on fixed random images, and explains a few fixed inputs: once with
``steps=0`` (deterministic: the capacity at alpha = 5) and ``--runs`` times for each of the
``SETTINGS`` (random noise; the graph seed makes the file reproducible).

Everything image-like is stored in torch's layout so the torch test can copy it directly:
conv kernels OIHW (Keras: HWIO), the dense weight ``(out, in)`` whose inputs are in Keras'
Flatten order over ``(h, w, c)`` (in torch: permute the feature to channels-last before
flattening), images and feature statistics channels-first. Convolutions are stride 1 'same'
(symmetric padding 1) and stride 2 'valid', which torch's ``Conv2d`` reproduces exactly
(TensorFlow's 'same' with stride 2 pads asymmetrically).
"""
import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

SIZE, CHANNELS, FILTERS, CLASSES = 16, 3, 8, 4
N_ESTIMATION = 256
N_INPUTS = 3
HYPERPARAMETERS = dict(beta=10., steps=10, batch_size=10, learning_rate=1., min_std=0.01,
                       smooth_std=1.)
# The analysed settings: name -> overrides of HYPERPARAMETERS. With the defaults, this random
# network's near-uniform logits leave the maps mostly to the information term; with beta=1 the
# model loss (and so the noise injected into the model) shapes them.
SETTINGS = {"default": {}, "beta1": {"beta": 1.}}


def make_weights(rng):
    """Returns the Keras weights (HWIO kernels, (in, out) dense kernel) of the CNN."""
    def he(shape, fan_in):
        return (rng.randn(*shape) * np.sqrt(2. / fan_in)).astype("float32")
    conv2_out = (SIZE - 3) // 2 + 1
    return [
        he((3, 3, CHANNELS, FILTERS), 9 * CHANNELS),
        (0.1 * rng.randn(FILTERS)).astype("float32"),
        he((3, 3, FILTERS, FILTERS), 9 * FILTERS),
        (0.1 * rng.randn(FILTERS)).astype("float32"),
        he((conv2_out * conv2_out * FILTERS, CLASSES), conv2_out * conv2_out * FILTERS),
        (0.1 * rng.randn(CLASSES)).astype("float32"),
    ]


def make_images(rng, n, squares):
    """Noise images (channels-last); with ``squares`` each holds a bright 5x5 square."""
    images = rng.uniform(0., 0.5, size=(n, SIZE, SIZE, CHANNELS)).astype("float32")
    if squares:
        for image in images:
            top, left = rng.randint(0, SIZE - 5, size=2)
            image[top:top + 5, left:left + 5] += 1.
    return images


def build_model():
    import keras
    from iba_tf import IBALayer
    inputs = keras.layers.Input((SIZE, SIZE, CHANNELS))
    feature = keras.layers.Conv2D(FILTERS, 3, padding="same", activation="relu",
                                  name="conv1")(inputs)
    iba = IBALayer(name="iba")
    hidden = keras.layers.Conv2D(FILTERS, 3, strides=2, padding="valid", activation="relu",
                                 name="conv2")(iba(feature))
    logits = keras.layers.Dense(CLASSES, name="dense")(keras.layers.Flatten()(hidden))
    return keras.models.Model(inputs, logits), iba


def to_channels_first(x):
    """(..., h, w, c) -> (..., c, h, w)."""
    return np.moveaxis(np.asarray(x), -1, -3)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="the .npz file to write")
    parser.add_argument("--runs", type=int, default=5, help="analyses per input")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights, data and noise")
    args = parser.parse_args(argv)

    import keras
    import keras.backend as K
    import tensorflow as tf
    from iba_tf import to_saliency_map

    tf.compat.v1.disable_eager_execution()      # TF 2: iba_tf needs graph mode (a no-op on 1.15)
    K.clear_session()
    tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)
    tf.compat.v1.set_random_seed(args.seed)
    rng = np.random.RandomState(args.seed)
    model, iba = build_model()
    weights = make_weights(rng)
    model.set_weights(weights)
    iba.set_default(**HYPERPARAMETERS)

    estimation = make_images(rng, N_ESTIMATION, squares=False)
    inputs = make_images(rng, N_INPUTS, squares=True)
    target = iba.set_classification_loss(model.output)
    iba.fit({model.input: estimation})
    logits = model.predict(inputs)
    targets = logits.argmax(axis=1)

    capacity_steps0 = []
    results = {}
    for image, label in zip(inputs, targets):
        feed = {model.input: image[None], target: int(label)}
        capacity_steps0.append(iba.analyze(feed, steps=0))
        for name, overrides in sorted(SETTINGS.items()):
            runs = [iba.analyze(feed, **overrides) for _ in range(args.runs)]
            results.setdefault("capacity_" + name, []).append(to_channels_first(runs))
            results.setdefault("saliency_" + name, []).append(
                [to_saliency_map(c, (SIZE, SIZE), "channels_last") for c in runs])

    kernel1, bias1, kernel2, bias2, dense, dense_bias = weights
    state = iba.estimator.state_dict()
    np.savez(
        args.out,
        # torch layout: conv OIHW, dense (out, in) over Keras' Flatten order (h, w, c)
        conv1_weight=kernel1.transpose(3, 2, 0, 1), conv1_bias=bias1,
        conv2_weight=kernel2.transpose(3, 2, 0, 1), conv2_bias=bias2,
        dense_weight=dense.T, dense_bias=dense_bias,
        estimation_images=to_channels_first(estimation),
        inputs=to_channels_first(inputs), targets=targets, logits=logits,
        estimator_n=state["n"], estimator_mean=to_channels_first(state["mean"]),
        estimator_m2=to_channels_first(state["m2"]),
        estimator_nonzero=to_channels_first(state["nonzero"]),
        capacity_steps0=to_channels_first(np.array(capacity_steps0)),
        # name -> all hyperparameters of that setting (IBALayer's names), as JSON
        settings=json.dumps({name: dict(HYPERPARAMETERS, **overrides)
                             for name, overrides in SETTINGS.items()}),
        tensorflow_version=tf.__version__, keras_version=keras.__version__,
        **{key: np.array(value) for key, value in results.items()}
    )
    for name in sorted(SETTINGS):
        bits = np.array(results["saliency_" + name]).sum(axis=(2, 3))
        print("{}: total bits per input and run {}".format(name, np.round(bits, 2).tolist()))
    print("wrote {}: {} inputs x {} runs per setting".format(args.out, N_INPUTS, args.runs))


if __name__ == "__main__":
    main()
