"""Writes the TensorFlow side of the Readout Bottleneck's TF / PyTorch agreement test (.npz).

Run with a TensorFlow venv (TF 1.15 in ``.venv`` or TF 2.14 in ``.venv-tf2``)::

    .venv/bin/python scripts/readout_agreement_case_tf.py --out case.npz

The CNN and data of ``scripts/agreement_case_tf.py`` (without the IBALayer)::

    input (16, 16, 3) -> conv1 3x3x8 'same' + relu -> conv2 3x3x8 stride 2 'valid' + relu
      -> Flatten -> dense(4) (logits)

An :class:`iba_tf.IBAReadout` is attached after conv1 and reads conv1 (16x16), conv2 (7x7,
resized) and the logits (broadcast). Its statistics are fitted on the estimation images, its
readout network gets seeded random weights (so alpha varies over [-5, 5]; no training, whose
noise would differ between the frameworks), and the deterministic capacity and saliency maps
of a few inputs are written in torch's layout, with the model's and the readout's weights.
"""
import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from agreement_case_tf import (CHANNELS, CLASSES, FILTERS, N_ESTIMATION, SIZE,  # noqa: E402
                               make_images, make_weights, to_channels_first)

N_INPUTS = 4


def build_model():
    import keras
    inputs = keras.layers.Input((SIZE, SIZE, CHANNELS))
    hidden = keras.layers.Conv2D(FILTERS, 3, padding="same", activation="relu",
                                 name="conv1")(inputs)
    hidden = keras.layers.Conv2D(FILTERS, 3, strides=2, padding="valid", activation="relu",
                                 name="conv2")(hidden)
    logits = keras.layers.Dense(CLASSES, name="dense")(keras.layers.Flatten()(hidden))
    return keras.models.Model(inputs, logits)


def readout_weights(readout, rng):
    """Random readout weights (std 1.5 / sqrt(fan_in)) with the shapes of ``readout``'s."""
    values = []
    for value in readout.get_weights():
        fan_in = value.shape[0] if value.ndim == 2 else 1
        values.append((rng.randn(*value.shape) * 1.5 / np.sqrt(fan_in)).astype("float32"))
    return values


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="the .npz file to write")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and data")
    args = parser.parse_args(argv)

    import keras.backend as K
    import tensorflow as tf
    from iba_tf.tensorflow_v1.readout import IBAReadout

    tf.compat.v1.disable_eager_execution()      # TF 2: iba_tf needs graph mode (a no-op on 1.15)
    K.clear_session()
    tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)
    rng = np.random.RandomState(args.seed)
    model = build_model()
    weights = make_weights(rng)
    model.set_weights(weights)
    estimation = make_images(rng, N_ESTIMATION, squares=False)
    inputs = make_images(rng, N_INPUTS, squares=True)

    readout = IBAReadout("conv1", ["conv1", "conv2", "dense"], model)
    readout.estimate(estimation, n_samples=N_ESTIMATION, progbar=False)
    initial = readout.get_weights()
    values = readout_weights(readout, rng)
    readout.set_weights(values)
    readout.steps_trained = 1     # the weights stand for a trained readout
    capacity = readout.analyze(inputs, mode="capacity")
    saliency = readout.analyze(inputs)

    kernel1, bias1, kernel2, bias2, dense, dense_bias = weights
    np.savez(
        args.out,
        conv1_weight=kernel1.transpose(3, 2, 0, 1), conv1_bias=bias1,
        conv2_weight=kernel2.transpose(3, 2, 0, 1), conv2_bias=bias2,
        dense_weight=dense.T, dense_bias=dense_bias,
        estimation_images=to_channels_first(estimation), inputs=to_channels_first(inputs),
        logits=model.predict(inputs),
        capacity=to_channels_first(capacity), saliency=saliency,
        **{"initial_{}".format(i): w for i, w in enumerate(initial)},
        **{"readout_{}".format(i): w for i, w in enumerate(values)})
    print("wrote {}: total bits per input {}".format(
        args.out, np.round(saliency.sum((1, 2)), 2).tolist()))


if __name__ == "__main__":
    main()
