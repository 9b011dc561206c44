"""iba_tf.baselines: the gradient family with innvestigate's calling convention."""
import re
import warnings

import innvestigate
import keras
import numpy as np
import pytest
from conftest import TF2

from iba_tf.baselines import (AnalyzerUnavailable, Gradient, InputTimesGradient,
                              IntegratedGradients, Random, analyzer_source, create_analyzer)


def cnn(activation="relu", input_shape=(12, 12, 2), classes=4):
    return keras.Sequential([
        keras.layers.Conv2D(6, 3, padding="same", activation=activation, input_shape=input_shape,
                            name="conv1"),
        keras.layers.Conv2D(6, 3, strides=2, padding="same", activation=activation,
                            name="conv2"),
        keras.layers.Flatten(),
        keras.layers.Dense(classes, name="logits"),
    ])


def lambda_model():
    """A model innvestigate refuses (it allows no Lambda layers) but tf.gradients handles."""
    return keras.Sequential([
        keras.layers.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
        keras.layers.Lambda(lambda t: 2 * t),
        keras.layers.Flatten(),
        keras.layers.Dense(3),
    ])


def test_gradient_matches_central_finite_differences():
    model = cnn(activation="tanh")
    x = np.random.rand(2, 12, 12, 2).astype("float32")
    grads = Gradient(model, neuron_selection_mode="index").analyze(x, neuron_selection=[1, 3])
    assert grads.shape == x.shape
    eps = 1e-2
    rng = np.random.RandomState(1)
    for sample, target in ((0, 1), (1, 3)):
        for index in map(tuple, rng.randint(0, [12, 12, 2], size=(6, 3))):
            up, down = x[sample:sample + 1].copy(), x[sample:sample + 1].copy()
            up[(0,) + index] += eps
            down[(0,) + index] -= eps
            numeric = (model.predict(up)[0, target] - model.predict(down)[0, target]) / (2 * eps)
            assert grads[(sample,) + index] == pytest.approx(numeric, rel=2e-2, abs=2e-4)


@pytest.mark.parametrize("name, cls, kwargs", [
    ("gradient", Gradient, {}),
    ("input_t_gradient", InputTimesGradient, {}),
    ("integrated_gradients", IntegratedGradients, dict(steps=8, rule="left")),
])
def test_same_maps_as_innvestigate_on_a_plain_cnn(name, cls, kwargs):
    model = cnn()
    x = np.random.rand(3, 12, 12, 2).astype("float32")
    innvestigate_kwargs = {k: v for k, v in kwargs.items() if k != "rule"}
    for mode, selection in (("index", [0, 2, 3]), ("max_activation", None)):
        theirs = innvestigate.create_analyzer(name, model, neuron_selection_mode=mode,
                                              **innvestigate_kwargs)
        ours = cls(model, neuron_selection_mode=mode, **kwargs)
        np.testing.assert_allclose(ours.analyze(x, neuron_selection=selection),
                                   theirs.analyze(x, neuron_selection=selection),
                                   rtol=1e-4, atol=1e-6)
    gradient = Gradient(model, postprocess="abs").analyze(x)
    np.testing.assert_allclose(gradient, np.abs(Gradient(model).analyze(x)))


def test_integrated_gradients_completeness_and_baseline():
    model = cnn(activation="tanh")
    x = np.random.rand(2, 12, 12, 2).astype("float32")
    baseline = np.full((12, 12, 2), 0.5, np.float32)
    ig = IntegratedGradients(model, neuron_selection_mode="index", steps=128, baseline=baseline)
    attributions = ig.analyze(x, neuron_selection=2)
    expected = model.predict(x)[:, 2] - model.predict(baseline[None])[0, 2]
    np.testing.assert_allclose(attributions.reshape(2, -1).sum(1), expected, rtol=2e-2, atol=1e-3)
    # max_activation explains the top class at x itself
    top = model.predict(x).argmax(1)
    np.testing.assert_allclose(
        IntegratedGradients(model, steps=16).analyze(x),
        IntegratedGradients(model, "index", steps=16).analyze(x, neuron_selection=top),
        rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="does not broadcast"):
        IntegratedGradients(model, baseline=np.zeros((3, 3))).analyze(x)


def test_ops_are_built_once_per_analyzer():
    model = cnn()
    x = np.random.rand(5, 12, 12, 2).astype("float32")
    analyzers = [Gradient(model), InputTimesGradient(model, batch_size=2),
                 IntegratedGradients(model, steps=4)]
    graph = model.output.graph
    analyzers[0].analyze(x)             # Keras' session initialises the variables (adds ops)
    n_ops = len(graph.get_operations())
    for analyzer in analyzers:
        analyzer.analyze(x)
        analyzer.analyze(x[:1])
    assert len(graph.get_operations()) == n_ops


def test_random_is_seeded_noise_independent_of_the_input():
    model = cnn()
    x = np.random.rand(2, 12, 12, 2).astype("float32")
    first = Random(model, seed=3).analyze(x)
    assert first.shape == x.shape
    np.testing.assert_array_equal(first, Random(model, seed=3).analyze(x * 0))
    assert abs(np.corrcoef(first.ravel(), x.ravel())[0, 1]) < 0.2
    analyzer = Random(model, neuron_selection_mode="index")
    assert not np.array_equal(analyzer.analyze(x, 1), analyzer.analyze(x, 1))
    # innvestigate's Random returns the input plus noise: create_analyzer gives iba_tf's
    assert isinstance(create_analyzer("random", model), Random)
    theirs = innvestigate.create_analyzer("random", model, stddev=1e-3).analyze(x)
    np.testing.assert_allclose(theirs, x, atol=0.01)


def test_errors_name_the_bad_value():
    model = cnn()
    x = np.random.rand(2, 12, 12, 2).astype("float32")
    softmax = keras.Sequential(model.layers + [keras.layers.Activation("softmax")])
    with pytest.raises(ValueError, match="model_wo_softmax"):
        Gradient(softmax)
    with pytest.raises(ValueError, match="neuron_selection_mode='maximum' is invalid"):
        Gradient(model, neuron_selection_mode="maximum")
    with pytest.raises(TypeError, match="needs a keras Model"):
        Gradient(lambda v: v)
    with pytest.raises(TypeError, match="unexpected keyword argument.*stepz"):
        IntegratedGradients(model, stepz=3)
    index = Gradient(model, neuron_selection_mode="index")
    with pytest.raises(ValueError, match="needs neuron_selection"):
        index.analyze(x)
    with pytest.raises(ValueError, match="3 entries for 2 samples"):
        index.analyze(x, neuron_selection=[0, 1, 2])
    with pytest.raises(ValueError, match=r"\[9\] out of range: the model has 4 outputs"):
        index.analyze(x, neuron_selection=[0, 9])
    with pytest.raises(ValueError, match="only used with neuron_selection_mode='index'"):
        Gradient(model).analyze(x, neuron_selection=1)
    with pytest.raises(ValueError, match=r"X must be a batch of samples of shape \(12, 12, 2\)"):
        Gradient(model).analyze(x[0])
    assert index.analyze(x, neuron_selection=np.int64(1)).shape == x.shape
    # the 'all' mode: the gradient of the sum of the outputs
    np.testing.assert_allclose(
        Gradient(model, neuron_selection_mode="all").analyze(x),
        sum(index.analyze(x, neuron_selection=k) for k in range(4)), rtol=1e-4, atol=1e-6)


def test_create_analyzer_prefers_innvestigate_where_it_runs():
    model = cnn()
    x = np.random.rand(2, 12, 12, 2).astype("float32")
    with warnings.catch_warnings():
        # no fallback warning here (Keras 2.14 warns about Model.state_updates on its own)
        warnings.filterwarnings("error", "innvestigate cannot analyze", UserWarning)
        analyzer = create_analyzer("gradient", model, neuron_selection_mode="index")
    assert analyzer_source(analyzer) == "innvestigate" and analyzer.fallback_reason is None
    assert create_analyzer("lrp.epsilon", model).analyze(x).shape == x.shape
    own = create_analyzer("gradient", model, prefer="iba_tf")
    assert isinstance(own, Gradient) and analyzer_source(own) == "iba_tf"
    with pytest.raises(ValueError, match="Unknown analyzer 'gradient_x'"):
        create_analyzer("gradient_x", model)
    with pytest.raises(ValueError, match="prefer='torch' is invalid"):
        create_analyzer("gradient", model, prefer="torch")
    from iba_tf import IBACopyInnvestigate
    assert isinstance(create_analyzer("iba", model, feature_name="conv1"), IBACopyInnvestigate)


def test_create_analyzer_falls_back_with_the_reason():
    model = lambda_model()
    x = np.random.rand(2, 8, 8, 1).astype("float32")
    # innvestigate 1.0.9 spells it "Lamda", innvestigate 2 "Lambda"
    with pytest.warns(UserWarning, match=r"innvestigate cannot analyze .*'gradient'.*"
                                         r"Lamb?da layers "
                                         r"are not allowed.*iba_tf\.baselines\.Gradient"):
        analyzer = create_analyzer("gradient", model, neuron_selection_mode="index")
    assert isinstance(analyzer, Gradient) and re.search("Lamb?da layers", analyzer.fallback_reason)
    np.testing.assert_allclose(analyzer.analyze(x, neuron_selection=1),
                               Gradient(model, "index").analyze(x, neuron_selection=1))
    with pytest.warns(UserWarning):
        ig = create_analyzer("integrated_gradients", model, steps=4, reference_inputs=0.5)
    assert isinstance(ig, IntegratedGradients) and ig._steps == 4
    with pytest.raises(AnalyzerUnavailable, match=r"'lrp\.epsilon' \(NotAnalyzeableModelException: "
                                                   r"Lamb?da layers.*"
                                                   r"no own implementation") as info:
        create_analyzer("lrp.epsilon", model)
    assert info.value.method == "lrp.epsilon" and re.search("Lamb?da layers", info.value.reason)


def test_create_analyzer_on_the_fer_model():
    """The real case: innvestigate cannot rebuild the emotion model (1.0.9 for LRP, 2 at all)."""
    from iba_tf.examples.data import load_fer_model
    model = load_fer_model()
    faces = np.random.RandomState(0).uniform(-1, 1, (2, 64, 64, 1)).astype("float32")
    # innvestigate 1.0.9 fails to rebuild its layers, innvestigate 2 on its duplicate names
    reason = "used 2 times" if TF2 else "unexpected keyword argument 'dtype'"
    with pytest.raises(AnalyzerUnavailable, match=reason):
        create_analyzer("lrp.epsilon", model)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        analyzer = create_analyzer("integrated_gradients", model, neuron_selection_mode="index",
                                   steps=4)
    maps = analyzer.analyze(faces, neuron_selection=[3, 6])
    assert maps.shape == faces.shape and np.isfinite(maps).all()
    if analyzer_source(analyzer) == "iba_tf":          # innvestigate failed: the reason is kept
        assert "used 2 times" in analyzer.fallback_reason
