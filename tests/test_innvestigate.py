"""IBACopyInnvestigate in innvestigate pipelines."""
import innvestigate
import innvestigate.utils
import keras
import numpy as np
import pytest
from innvestigate.tools.perturbate import Perturbation, PerturbationAnalysis

from conftest import TF2

import iba_tf
from iba_tf import IBACopyInnvestigate, model_wo_softmax

# innvestigate 1.0.9 exports it from innvestigate.utils, 2 from innvestigate.utils.sequence only
BatchSequence = getattr(innvestigate.utils, "BatchSequence", None) or __import__(
    "innvestigate.utils.sequence", fromlist=["BatchSequence"]).BatchSequence


def cnn(input_shape=(32, 32, 3), classes=5):
    return keras.Sequential([
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", input_shape=input_shape,
                            name="conv1"),
        keras.layers.Conv2D(8, 3, padding="same", strides=2, activation="relu", name="conv2"),
        keras.layers.Flatten(),
        keras.layers.Dense(classes, name="logits"),
    ])


@pytest.fixture
def fitted():
    model = cnn()
    x = np.random.rand(40, 32, 32, 3).astype("float32")
    analyzer = IBACopyInnvestigate(model, feature_name="conv1", neuron_selection_mode="index")
    analyzer.fit(x)
    return model, analyzer, x


@pytest.mark.parametrize("n", [1, 3])
def test_one_map_per_sample_for_its_own_target(fitted, n):
    model, analyzer, x = fitted
    saliency = analyzer.analyze(x[:n], neuron_selection=2)
    assert saliency.shape == (n, 32, 32) and np.all(saliency >= 0)
    # a batch equals the samples analysed one by one, in distribution: same sanity
    # property, each with its own target
    per_target = analyzer.analyze(x[:3], neuron_selection=[0, 1, 2])
    assert per_target.shape == (3, 32, 32)
    analyzer.set_default(beta=1e4, steps=20)
    assert analyzer.analyze(x[:n], neuron_selection=2).sum() < 0.01 * saliency.sum()


def test_max_activation_explains_each_samples_top_logit():
    model = cnn()
    x = np.random.rand(30, 32, 32, 3).astype("float32")
    analyzer = IBACopyInnvestigate(model, feature_name=model.get_layer("conv1").output.name)
    analyzer.fit(x)
    np.testing.assert_array_equal(analyzer._targets(x[:4], None), model.predict(x[:4]).argmax(1))
    assert analyzer.analyze(x[:4]).shape == (4, 32, 32)
    with pytest.raises(ValueError, match="only used with neuron_selection_mode='index'"):
        analyzer.analyze(x[:1], neuron_selection=1)


def test_index_selection_errors(fitted):
    model, analyzer, x = fitted
    with pytest.raises(ValueError, match="needs neuron_selection"):
        analyzer.analyze(x[:2])
    with pytest.raises(ValueError, match="3 entries for 2 samples"):
        analyzer.analyze(x[:2], neuron_selection=[0, 1, 2])
    with pytest.raises(ValueError, match=r"neuron_selection 7 of sample 1 is out of range.*5 "
                                         r"outputs"):
        analyzer.analyze(x[:2], neuron_selection=[0, 7])


def test_all_mode_softmax_and_bad_arguments_are_refused():
    model = cnn()
    with pytest.raises(ValueError, match="'all' is not supported"):
        IBACopyInnvestigate(model, neuron_selection_mode="all")
    softmax = keras.Sequential(model.layers + [keras.layers.Activation("softmax")])
    with pytest.raises(ValueError, match="model_wo_softmax"):
        IBACopyInnvestigate(softmax)
    dense_softmax = keras.Sequential([keras.layers.Dense(3, activation="softmax",
                                                         input_shape=(4,))])
    with pytest.raises(ValueError, match="model_wo_softmax"):
        IBACopyInnvestigate(dense_softmax)
    assert IBACopyInnvestigate(model_wo_softmax(softmax), feature_name="conv2") is not None
    with pytest.raises(ValueError, match="'conv3/Relu:0' is not in the graph"):
        IBACopyInnvestigate(model, feature_name="conv3/Relu:0")
    with pytest.raises(ValueError, match="output='pixels'"):
        IBACopyInnvestigate(model, output="pixels")


def test_default_feature_layer():
    model = cnn()             # 32x32 -> 16x16 never reaches 1/8: the last map with axes
    assert iba_tf.tensorflow_v1.innvestigate_analyzer.default_feature_layer(
        model).name == "conv2"
    vgg = keras.applications.VGG16(weights=None, input_shape=(64, 64, 3))
    assert iba_tf.tensorflow_v1.innvestigate_analyzer.default_feature_layer(
        vgg).name == "block3_pool"
    analyzer = IBACopyInnvestigate(model)
    assert analyzer.copy._original_feature is model.get_layer("conv2").output


def test_sequences():
    model = keras.Sequential([
        keras.layers.Conv1D(6, 3, padding="same", activation="relu", input_shape=(24, 2)),
        keras.layers.Conv1D(6, 3, padding="same", activation="relu", name="feature"),
        keras.layers.Flatten(), keras.layers.Dense(3)])
    x = np.random.randn(20, 24, 2).astype("float32")
    analyzer = IBACopyInnvestigate(model, feature_name="feature")
    analyzer.fit(x)
    assert analyzer.analyze(x[:2]).shape == (2, 24)


def test_registry_loop_next_to_innvestigates_analyzers():
    model = cnn()
    x = np.random.rand(20, 32, 32, 3).astype("float32")
    shapes = {}
    for name, kwargs in [("gradient", {}), ("integrated_gradients", {}), ("lrp.z", {}),
                         ("iba", dict(feature_name="conv1", output="input"))]:
        analyzer = innvestigate.create_analyzer(name, model, neuron_selection_mode="index",
                                                **kwargs)
        if name == "iba":
            analyzer.fit(x)
        elif not TF2:       # innvestigate 2's analyzers need no (and have no) fit
            analyzer.fit(x, disable_no_training_warning=True)
        shapes[name] = analyzer.analyze(x[:2], neuron_selection=1).shape
    assert isinstance(innvestigate.create_analyzer("iba", model), IBACopyInnvestigate)
    assert set(shapes.values()) == {(2, 32, 32, 3)}


def test_save_npz_round_trip_into_a_fresh_graph(fitted, tmp_path):
    model, analyzer, x = fitted
    analyzer.set_default(beta=3, steps=4)
    predictions = analyzer.predict(x)
    path = str(tmp_path / "iba.npz")
    analyzer.save_npz(path)
    class_name, state = analyzer.save()
    assert class_name == "IBACopyInnvestigate"
    mean = analyzer.estimator.mean()
    keras.backend.clear_session()
    loaded = IBACopyInnvestigate.load_npz(path)
    np.testing.assert_allclose(loaded.predict(x), predictions, rtol=1e-5, atol=1e-6)
    assert loaded.get_default()["beta"] == 3 and loaded.get_default()["steps"] == 4
    np.testing.assert_array_equal(loaded.estimator.mean(), mean)
    assert loaded.analyze(x[:2], neuron_selection=1).shape == (2, 32, 32)
    # innvestigate's own loader finds the class too
    keras.backend.clear_session()
    assert isinstance(innvestigate.analyzer.base.AnalyzerBase.load(class_name, state),
                      IBACopyInnvestigate)


def test_perturbation_analysis_runs_with_iba():
    model = cnn(input_shape=(16, 16, 1), classes=3)
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    x = np.random.rand(12, 16, 16, 1).astype("float32")
    y = model.predict(x).argmax(1)
    analyzer = IBACopyInnvestigate(model, feature_name="conv1", output="input")
    analyzer.fit(x)
    generator = BatchSequence([x, y], batch_size=6)
    perturbation = Perturbation("zeros", region_shape=(4, 4))
    analysis = PerturbationAnalysis(analyzer, model, generator, perturbation, steps=3,
                                    regions_per_step=2)
    scores = analysis.compute_perturbation_analysis()
    assert len(scores) == 4
    assert scores[0][1] == 1.0        # accuracy on the unperturbed data, predicted labels
