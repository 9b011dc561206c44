"""IBAReadout (TensorFlow / Keras): training, maps, files, the model left alone, errors."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from iba_tf.tensorflow_v1.compat import keras
from iba_tf.tensorflow_v1.readout import IBAReadout


def _corner_model():
    """conv ``feat`` (8x8x4) -> gated by the input's second channel -> dense ``logits`` (3).

    The output depends on ``feat`` only where the input's second channel is 1.
    """
    inputs = keras.layers.Input((8, 8, 2))
    feat = keras.layers.Conv2D(4, 1, name="feat")(inputs)
    gated = keras.layers.Lambda(lambda t: t[0] * t[1][..., 1:], name="gated")([feat, inputs])
    flat = keras.layers.Flatten(name="flat")(gated)
    logits = keras.layers.Dense(3, name="logits", kernel_initializer=keras.initializers.
                                RandomNormal(stddev=1., seed=1))(flat)
    return keras.models.Model(inputs, logits)


def _corner_inputs(n=128):
    """Random inputs whose second channel marks one random 4x4 quadrant per sample."""
    x = np.random.randn(n, 8, 8, 2).astype("float32")
    x[..., 1] = 0.
    for i, (row, col) in enumerate(np.random.randint(0, 2, (n, 2)) * 4):
        x[i, row:row + 4, col:col + 4, 1] = 1.
    return x


def _trained(model, x, epochs=6, **kwargs):
    readout = IBAReadout("feat", ["feat", "logits"], model, beta=1, smooth_std=0, **kwargs)
    readout.estimate(x, progbar=False)
    readout.train(x, epochs=epochs, progbar=False)
    return readout


@pytest.fixture
def corner():
    """The gated model and inputs; the output reads one quadrant per input, marked in it.

    The readout network is a stack of 1x1 convolutions: it sees where the output depends on
    the input only through what the features show, as with real images, where the object is
    visible in the features.
    """
    return _corner_model(), _corner_inputs()


def test_training_lowers_the_objective_and_the_map_concentrates_on_the_corner(corner):
    model, x = corner
    predictions = model.predict(x)
    readout = IBAReadout("feat", ["feat", "logits"], model, beta=1, smooth_std=0,
                         learning_rate=0.05)
    readout.estimate(x, progbar=False)
    readout._configure()
    from iba_tf.tensorflow_v1.readout_training import evaluate
    before = evaluate(readout, x, None)
    history = readout.train(x, epochs=15, progbar=False, validation_data=x)
    assert history[-1]["val_loss"] < 0.5 * before, (before, history)
    assert history[-1]["loss"] < history[0]["loss"]
    assert set(history[0]) == {"loss", "model_loss", "information_loss", "val_loss"}

    capacity = readout.analyze(x[:16], mode="capacity")
    assert capacity.shape == (16, 8, 8, 4)
    per_position = capacity.sum(-1)
    read = x[:16, ..., 1] == 1
    inside, outside = per_position[read].mean(), per_position[~read].mean()
    assert outside < 0.05 * inside, (inside, outside)
    saliency = readout.analyze(x[:16])
    assert saliency.shape == (16, 8, 8)
    np.testing.assert_allclose(saliency, per_position / np.log(2), rtol=1e-5)
    # building, training and analyzing leave the model's predictions alone
    np.testing.assert_array_equal(model.predict(x), predictions)


def test_generators_sequences_and_one_hot_labels(corner):
    model, x = corner
    y = model.predict(x).argmax(-1)

    class Batches(keras.utils.Sequence):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return x[32 * i:32 * i + 32], np.eye(3)[y[32 * i:32 * i + 32]]

    readout = IBAReadout("feat", ["feat", "logits"], model)
    readout.estimate((b[0] for b in Batches()), n_samples=64, progbar=False)
    assert min(e.n_samples() for e in readout.estimators.values()) == 64
    history = readout.fit_generator(Batches(), epochs=2, verbose=0)
    assert len(history) == 2 and readout.steps_trained == 8
    endless = ((x[:16], y[:16]) for _ in iter(int, 1))
    with pytest.raises(ValueError, match="steps_per_epoch"):
        readout.train(endless, epochs=1)
    readout.train(endless, epochs=1, steps_per_epoch=3, progbar=False)
    assert readout.steps_trained == 11


def test_save_and_load_give_identical_maps_in_a_fresh_process(corner, tmp_path):
    model, x = corner
    readout = _trained(model, x, epochs=2)
    maps = readout.analyze(x[:4])
    model.save(str(tmp_path / "model.h5"))
    readout.save(str(tmp_path / "readout.npz"))
    np.save(str(tmp_path / "x.npy"), x[:4])
    loaded = IBAReadout.load(str(tmp_path / "readout.npz"), model)
    np.testing.assert_array_equal(loaded.analyze(x[:4]), maps)
    assert loaded.get_settings() == readout.get_settings()

    script = (
        "import numpy as np, sys, tensorflow as tf\n"
        "tf.compat.v1.disable_eager_execution()\n"      # TF 2: graph mode, as iba_tf requires
        "import keras\n"
        "from iba_tf.tensorflow_v1.readout import IBAReadout\n"
        "d = sys.argv[1]\n"
        "model = keras.models.load_model(d + '/model.h5', compile=False)\n"
        "maps = IBAReadout.load(d + '/readout.npz', model).analyze(np.load(d + '/x.npy'))\n"
        "np.save(d + '/maps.npy', maps)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, env=env)
    np.testing.assert_allclose(np.load(str(tmp_path / "maps.npy")), maps, rtol=1e-5,
                               atol=1e-7)


def test_reset_estimate_and_reset_weights(corner):
    model, x = corner
    readout = _trained(model, x, epochs=1)
    readout.reset_estimate()
    with pytest.raises(RuntimeError, match="estimate"):
        readout.analyze(x[:2])
    readout.reset_weights()
    with pytest.raises(RuntimeError, match="not trained"):
        readout.analyze(x[:2])


def test_bad_layers_are_named():
    model = _corner_model()
    with pytest.raises(ValueError, match="'nope' is not a layer"):
        IBAReadout("feat", ["nope"], model)
    with pytest.raises(ValueError, match="attach layer 'logits'.*feature map"):
        IBAReadout("logits", ["feat"], model)
    inputs = keras.layers.Input((8, 8, 2))
    feat = keras.layers.Conv2D(4, 1, name="feat")(inputs)
    seq = keras.layers.Reshape((64, 4), name="seq")(feat)
    logits = keras.layers.Dense(3, name="logits")(keras.layers.Flatten()(seq))
    with pytest.raises(ValueError, match="readout layer 'seq'.*cannot be brought"):
        IBAReadout("feat", ["feat", "seq"], keras.models.Model(inputs, logits))


def test_bad_use_and_bad_data_are_clear_errors(corner, tmp_path):
    model, x = corner
    readout = IBAReadout("feat", ["feat", "logits"], model)
    with pytest.raises(RuntimeError, match="estimate"):
        readout.train(x, epochs=1, progbar=False)
    readout.estimate(x, progbar=False)
    with pytest.raises(RuntimeError, match="not trained"):
        readout.analyze(x[:2])
    with pytest.raises(RuntimeError, match="not trained"):
        readout.save(str(tmp_path / "r.npz"))
    assert not os.listdir(str(tmp_path))
    with pytest.raises(ValueError, match=r"shape \(4, 8, 8\).*\(n, 8, 8, 2\)"):
        readout.train((x[:4, ..., 0], np.zeros(4, int)), progbar=False)
    with pytest.raises(ValueError, match="labels"):
        readout.train((x[:4], np.zeros(3, int)), progbar=False)
    assert readout.steps_trained == 0
    with pytest.raises(ValueError, match="mode"):
        readout.analyze(x[:2], mode="bits")


def test_a_nan_loss_stops_training_and_keeps_the_last_good_weights(corner):
    model, x = corner
    readout = IBAReadout("feat", ["feat", "logits"], model)
    readout.estimate(x, progbar=False)
    readout.train(x[:64], epochs=1, progbar=False)
    before = readout.get_weights()
    bad = x[:96].copy()
    bad[70] = np.nan                       # in the third batch of 32
    with pytest.raises(FloatingPointError, match="epoch 1, step 3"):
        readout.train(bad, epochs=1, progbar=False)
    kept = readout.get_weights()
    assert all(np.all(np.isfinite(w)) for w in kept)
    assert not all(np.array_equal(a, b) for a, b in zip(kept, before))  # steps 1, 2 count
    assert readout.steps_trained == 4
    readout.analyze(x[:2])                 # still usable


def test_a_file_for_another_model_or_attach_layer_is_refused(corner, tmp_path):
    model, x = corner
    readout = _trained(model, x, epochs=1)
    path = str(tmp_path / "readout.npz")
    readout.save(path)
    other = keras.Sequential([keras.layers.Conv2D(4, 1, input_shape=(8, 8, 2), name="feat"),
                              keras.layers.Flatten(), keras.layers.Dense(3, name="logits")])
    with pytest.raises(ValueError, match="another model"):
        IBAReadout.load(path, other)
    retrained = _corner_model()            # same architecture, other weights
    retrained.set_weights([w + 1 for w in model.get_weights()])
    with pytest.raises(ValueError, match="other weights"):
        IBAReadout.load(path, retrained)
    elsewhere = IBAReadout("feat", ["logits"], model)
    before = elsewhere.get_weights()
    with pytest.raises(ValueError, match="holds a readout for"):
        elsewhere.load_weights(path)
    assert all(np.array_equal(a, b) for a, b in zip(elsewhere.get_weights(), before))
    with open(str(tmp_path / "bad.npz"), "wb") as file:
        np.savez(file, config=np.array(json.dumps({"format": "other"})))
    with pytest.raises(ValueError, match="format"):
        IBAReadout.load(str(tmp_path / "bad.npz"), model)


def test_the_innvestigate_analyzer_explains_with_the_trained_readout(corner, tmp_path):
    import innvestigate
    import iba_tf  # noqa: F401 - registers "iba_readout"
    from iba_tf.tensorflow_v1.innvestigate_readout import IBAReadoutInnvestigate
    model, x = corner
    readout = _trained(model, x, epochs=1)
    analyzer = innvestigate.create_analyzer("iba_readout", model, readout=readout,
                                            output="input")
    assert isinstance(analyzer, IBAReadoutInnvestigate)
    maps = analyzer.analyze(x[:4])
    assert maps.shape == x[:4].shape
    np.testing.assert_array_equal(maps[..., 0], readout.analyze(x[:4]))
    with pytest.raises(ValueError, match="max_activation"):
        IBAReadoutInnvestigate(model, readout=readout, neuron_selection_mode="index")
    fresh = IBAReadoutInnvestigate(model, attach_layer="feat", readout_layers=["logits"])
    history = fresh.fit(x[:64], epochs=1)
    assert len(history) == 1 and fresh.analyze(x[:2]).shape == (2, 8, 8)


def test_the_readout_network_is_the_plain_formula_also_for_a_small_wide_map():
    """A readout map with fewer positions and more channels than the first convolution's output
    is convolved before it is resized (readout_network._first_layer): the same alpha as
    standardising, resizing, concatenating, three 1x1 convolutions and the clip."""
    from iba_tf.tensorflow_v1 import readout_data
    from iba_tf.tensorflow_v1.compat import tf
    inputs = keras.layers.Input((8, 8, 2))
    a = keras.layers.Conv2D(4, 1, name="a")(inputs)
    b = keras.layers.Conv2D(16, 3, strides=2, padding="same", name="b")(a)   # 4x4x16
    logits = keras.layers.Dense(3, name="logits")(keras.layers.Flatten()(b))
    model = keras.models.Model(inputs, logits)
    x = np.random.RandomState(0).randn(6, 8, 8, 2).astype("float32")
    readout = IBAReadout("a", ["a", "b", "logits"], model)     # 4 + 16 + 3 -> 11 channels
    readout.estimate(x, progbar=False)
    readout._configure()
    rng = np.random.RandomState(1)
    weights = [w + 0.3 * rng.randn(*w.shape).astype("float32") for w in readout.get_weights()]
    weights[5] = np.zeros_like(weights[5])
    readout.set_weights(weights)
    feed = readout._feed(x, False)
    alpha = readout.copy_session.run(readout.network.alpha, feed)

    maps = []
    for placeholder, tensor in zip(readout.network.inputs, readout._readouts):
        mean, std = readout_data.statistics(readout, tensor.name)[:2]
        maps.append((feed[placeholder] - mean) / np.maximum(std, 0.01))
    with tf.Graph().as_default(), tf.Session() as session:
        hidden = tf.concat([tf.tile(m[:, None, None, :], [1, 8, 8, 1]) if m.ndim == 2 else
                            tf.image.resize_bilinear(m, (8, 8), align_corners=True)
                            for m in maps], -1)
        for i in range(0, 6, 2):
            hidden = tf.tensordot(hidden, weights[i], [[3], [0]]) + weights[i + 1]
            hidden = tf.nn.relu(hidden) if i < 4 else tf.clip_by_value(hidden, -5., 5.)
        expected = session.run(hidden)
    assert np.mean(np.abs(expected) < 5) > 0.5          # not all clipped: the test can fail
    np.testing.assert_allclose(alpha, expected, rtol=1e-4, atol=1e-4)


def test_saliency_maps_are_the_zoom_of_the_bits():
    import scipy.ndimage
    from iba_tf.readout_spec import saliency_maps
    capacity = np.random.RandomState(0).rand(3, 7, 5, 4).astype("float32")
    bits = capacity.sum(-1, dtype=np.float64) / np.log(2)
    zoomed = scipy.ndimage.zoom(bits, (1, 28 / 7., 33 / 5.), order=1, mode="nearest",
                                grid_mode=True)
    np.testing.assert_allclose(saliency_maps(capacity, (28, 33)),
                               zoomed * (bits[0].size / zoomed[0].size), rtol=1e-12)
    np.testing.assert_allclose(saliency_maps(capacity, (7, 5)), bits)
