"""tf.keras models: IBALayer (iba_tf.tfkeras) and IBACopyInnvestigate on both stacks.

On TensorFlow 1.15, tf.keras is a Keras of its own beside Keras 2.3.1; on TensorFlow 2 both
names are one Keras, so the same tests check that the two IBALayer names are one class.
"""
import numpy as np
import pytest
import tensorflow as tf

from conftest import TF2
import iba_tf
from iba_tf import IBACopyInnvestigate
from iba_tf.tfkeras import IBALayer as TFKerasIBALayer

tk = tf.keras


def tfkeras_cnn(with_iba=True):
    layers = [tk.layers.Conv2D(4, 3, padding="same", activation="relu", input_shape=(8, 8, 1),
                               name="conv1")]
    if with_iba:
        layers.append(TFKerasIBALayer(name="iba", beta=3))
    layers += [tk.layers.Flatten(), tk.layers.Dense(3, name="logits")]
    return tk.Sequential(layers)


def test_ibalayer_in_a_tfkeras_sequential_model_and_load_model_round_trip(tmp_path):
    model = tfkeras_cnn()
    x = np.random.rand(10, 8, 8, 1).astype("float32")
    predictions = model.predict(x)
    iba = model.get_layer("iba")
    target = iba.set_classification_loss(model.output)
    iba.fit({model.input: x})
    capacity = iba.analyze({model.input: x[:1], target: 1})
    assert capacity.shape == (8, 8, 4) and np.all(np.isfinite(capacity))
    np.testing.assert_allclose(model.predict(x), predictions, rtol=1e-6)   # identity again
    path = str(tmp_path / "model.h5")
    model.save(path)
    loaded = tk.models.load_model(path)
    assert isinstance(loaded.get_layer("iba"), TFKerasIBALayer)
    assert loaded.get_layer("iba").get_config()["beta"] == 3
    np.testing.assert_allclose(loaded.predict(x), predictions, rtol=1e-5, atol=1e-6)


def test_ibalayer_in_a_tfkeras_functional_model():
    inputs = tk.Input((8, 8, 1))
    feature = tk.layers.Conv2D(4, 3, activation="relu")(inputs)
    restricted = TFKerasIBALayer(name="iba")(feature)
    model = tk.Model(inputs, tk.layers.Dense(2)(tk.layers.Flatten()(restricted)))
    x = np.random.rand(6, 8, 8, 1).astype("float32")
    iba = model.get_layer("iba")
    target = iba.set_classification_loss(model.output)
    iba.fit({model.input: x})
    assert iba.analyze({model.input: x[:2], target: [0, 1]}).shape == (2, 6, 6, 4)


def test_the_two_ibalayer_names():
    from iba_tf.keras import IBALayer as KerasIBALayer
    assert iba_tf.IBALayer is KerasIBALayer
    assert tk.utils.get_custom_objects()["IBALayer"] is TFKerasIBALayer
    # one Keras on TensorFlow 2, two on TensorFlow 1.15
    assert (TFKerasIBALayer is KerasIBALayer) == TF2


def test_ibacopyinnvestigate_takes_a_tfkeras_model():
    model = tfkeras_cnn(with_iba=False)
    x = np.random.rand(12, 8, 8, 1).astype("float32")
    analyzer = IBACopyInnvestigate(model, feature_name="conv1")
    analyzer.fit(x)
    np.testing.assert_allclose(analyzer.predict(x), model.predict(x), rtol=1e-5, atol=1e-6)
    assert analyzer.analyze(x[:2]).shape == (2, 8, 8)
    with pytest.raises(TypeError, match="keras or tf.keras Model, got 'function'"):
        IBACopyInnvestigate(lambda v: v)


@pytest.mark.tf1_only
def test_innvestigate_1_cannot_analyze_a_tfkeras_model_and_the_baselines_say_so():
    from iba_tf.baselines import AnalyzerUnavailable, create_analyzer
    model = tfkeras_cnn(with_iba=False)
    x = np.random.rand(2, 8, 8, 1).astype("float32")
    # innvestigate 1.0.9 walks multi-backend Keras nodes: a tf.keras model has none of theirs
    with pytest.raises(AnalyzerUnavailable, match="output_masks.*no own implementation"):
        create_analyzer("lrp.epsilon", model)
    with pytest.warns(UserWarning, match="using iba_tf.baselines.IntegratedGradients"):
        analyzer = create_analyzer("integrated_gradients", model)
    assert analyzer.analyze(x).shape == x.shape


def test_cli_explains_a_model_saved_with_tfkeras(tmp_path, capsys):
    from PIL import Image
    from iba_tf import cli
    model = tk.Sequential([
        tk.layers.Conv2D(4, 3, padding="same", activation="relu", input_shape=(16, 16, 3),
                         name="conv1"),
        tk.layers.Flatten(), tk.layers.Dense(3, activation="softmax", name="probabilities")])
    model.save(str(tmp_path / "model.h5"))
    image = str(tmp_path / "image.png")
    Image.fromarray((np.random.rand(16, 16, 3) * 255).astype(np.uint8)).save(image)
    out = tmp_path / "out"
    # On TF 1.15 Keras 2.3.1 cannot rebuild this tf.keras file; the CLI loads it with tf.keras
    assert cli.main(["explain", str(tmp_path / "model.h5"), image, "--layer", "conv1",
                     "--steps", "2", "--out", str(out)]) == 0
    assert "softmax" in capsys.readouterr().out
    saliency = np.load(str(out / "image_iba.npy"))
    assert saliency.shape == (16, 16) and np.isfinite(saliency).all() and saliency.sum() > 0
