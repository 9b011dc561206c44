"""Bad input gets a clear exception that names the problem, and nothing changes."""
import keras
import numpy as np
import pytest
import tensorflow.compat.v1 as tf  # the TensorFlow 1 API on both stacks

from conftest import small_cnn
from iba_tf import IBALayer


@pytest.fixture
def cnn():
    model = small_cnn()
    return model, model.get_layer("iba"), np.random.rand(10, 32, 32, 3).astype("float32")


def test_analyze_before_a_loss_and_before_statistics(cnn):
    model, iba, images = cnn
    with pytest.raises(RuntimeError, match="set_classification_loss"):
        iba.analyze({model.input: images[:1]})
    target = iba.set_classification_loss(model.output)
    with pytest.raises(RuntimeError, match=r"fit\(.*feature_mean"):
        iba.analyze({model.input: images[:1], target: 0})
    with pytest.raises(ValueError, match="lacks the target"):
        iba.analyze({model.input: images[:1]})


def test_statistics_of_the_wrong_shape_or_not_finite(cnn):
    model, iba, images = cnn
    target = iba.set_classification_loss(model.output)
    feed = {model.input: images[:1], target: 0}
    iba._statistics.feature_mean, iba._statistics.feature_std = np.zeros((16, 16, 4)), np.ones((16, 16, 4))
    with pytest.raises(ValueError, match=r"mean .* shape \(16, 16, 4\).*\(16, 16, 8\)"):
        iba.analyze(feed)
    iba._statistics.feature_mean, iba._statistics.feature_std = np.zeros((16, 16, 8)), np.ones((16, 16, 8))
    iba._statistics.feature_std[3, 3, 3] = np.nan
    with pytest.raises(ValueError, match="1 NaN/inf"):
        iba.analyze(feed)
    with pytest.raises(ValueError, match="together"):
        IBALayer(feature_mean=np.zeros(3))
    with pytest.raises(ValueError, match="either an estimator"):
        IBALayer(estimator=object(), feature_mean=np.zeros(3), feature_std=np.ones(3))


def test_an_estimator_fitted_on_another_feature(cnn):
    model, iba, images = cnn
    target = iba.set_classification_loss(model.output)
    iba.estimator.fit(np.random.rand(5, 8, 8, 8))
    with pytest.raises(ValueError, match=r"estimator has shape \(8, 8, 8\)"):
        iba.analyze({model.input: images[:1], target: 0})


def test_a_scalar_model_loss_takes_one_sample(cnn):
    model, iba, images = cnn
    iba.set_model_loss(tf.reduce_mean(model.output[:, 0]))
    iba.fit({model.input: images})
    with pytest.raises(ValueError, match="holds 3 samples.*one sample"):
        iba.analyze({model.input: images[:3]})
    assert iba.analyze({model.input: images[:1]}).shape == (16, 16, 8)


def test_bad_losses(cnn):
    model, iba, images = cnn
    with pytest.raises(ValueError, match="model_wo_softmax"):
        iba.set_classification_loss(tf.nn.softmax(model.output))
    with pytest.raises(TypeError, match="tf.Tensor"):
        iba.set_classification_loss(model)
    with pytest.raises(ValueError, match="does not depend on this IBALayer"):
        iba.set_classification_loss(model.layers[0].output[:, 0, 0, :])
    with pytest.raises(ValueError, match="AdamOptimizer"):
        iba.set_classification_loss(model.output, optimizer_cls=tf.train.GradientDescentOptimizer)
    with pytest.raises(ValueError, match="scalar or one value per row"):
        iba.set_model_loss(model.output)


def test_unknown_feature_shape_and_unattached_layer():
    with pytest.raises(ValueError, match="fixed input_shape"):
        keras.Sequential([keras.layers.Conv2D(4, 3, input_shape=(None, None, 3)),
                          IBALayer()])
    with pytest.raises(RuntimeError, match="not part of a model"):
        IBALayer().set_classification_loss(tf.zeros((1, 3)))


def test_errors_leave_the_model_and_layer_working(cnn):
    model, iba, images = cnn
    before = model.predict(images)
    target = iba.set_classification_loss(model.output)
    iba.fit({model.input: images})
    with pytest.raises(ValueError):
        iba.analyze({model.input: images[:1], target: 0}, beta=-1)
    with pytest.raises(ValueError):
        iba.analyze({model.input: images[:1], target: 0}, pass_mask=np.ones((2, 2)))
    np.testing.assert_array_equal(model.predict(images), before)
    assert iba.analyze({model.input: images[:1], target: 0}).shape == (16, 16, 8)
