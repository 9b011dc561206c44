"""Bad input to the PyTorch port raises an exception that says what is wrong."""
import sys

import numpy as np
import pytest
import torch

from conftest import class_loss, small_cnn
from iba_tf.pytorch import (IBA, TorchWelfordEstimator, get_imagenet_folder, imagenet_transform,
                            insert_into_sequential, tensor_to_np_img)


@pytest.mark.parametrize("kwargs, message", [
    (dict(beta=-1), "beta=-1"),
    (dict(sigma=-0.5), "sigma=-0.5"),
    (dict(min_std=0), "min_std=0"),
    (dict(optimization_steps=2.5), "optimization_steps=2.5"),
    (dict(batch_size=0), "batch_size=0"),
    (dict(lr=-1), "lr=-1"),
    (dict(initial_alpha=float("nan")), "initial_alpha=nan"),
    (dict(active_neurons_threshold=1.5), "active_neurons_threshold=1.5"),
    (dict(beta=None), "beta must not be None"),
    (dict(input_or_output="middle"), "input_or_output"),
    (dict(feature_mean=np.zeros((8, 16, 16))), "together"),
    (dict(feature_mean=np.zeros(3), feature_std=np.ones(4)), "shape"),
    (dict(feature_mean=np.zeros(3), feature_std=np.ones(3),
          estimator=TorchWelfordEstimator()), "not both"),
    (dict(feature_mean=np.full(3, np.nan), feature_std=np.ones(3)), "NaN"),
])
def test_bad_constructor_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        IBA(**kwargs)


def test_bad_types():
    with pytest.raises(TypeError, match="nn.Module"):
        IBA(layer="conv")
    with pytest.raises(TypeError, match="estimator"):
        IBA(estimator=object())


@pytest.mark.parametrize("kwargs, message", [
    (dict(beta=-1), "beta=-1"),
    (dict(optimization_steps=-1), "optimization_steps=-1"),
    (dict(batch_size=1.5), "batch_size=1.5"),
    (dict(mode="heatmap"), "mode"),
])
def test_bad_analyze_arguments(fitted, kwargs, message):
    model, iba, images = fitted
    with pytest.raises(ValueError, match=message):
        iba.analyze(images[:1], class_loss(model, 0), **kwargs)


def test_analyze_needs_statistics_one_sample_and_a_scalar_loss(fitted, images):
    model, iba, _ = fitted
    with pytest.raises(ValueError, match="one sample at a time"):
        iba.analyze(images[:2], class_loss(model, 0))
    with pytest.raises(ValueError, match="scalar loss"):
        iba.analyze(images[:1], lambda x: model(x))
    with pytest.raises(ValueError, match="does not depend on the bottleneck"):
        iba.analyze(images[:1], lambda x: class_loss(model, 0)(x).detach())
    with pytest.raises(RuntimeError, match="did not run the bottleneck"):
        iba.analyze(images[:1], lambda x: x.sum())
    with pytest.raises(TypeError, match="callable"):
        iba.analyze(images[:1], "loss")
    fresh = small_cnn()
    unestimated = IBA(fresh[3])
    with pytest.raises(RuntimeError, match="no feature statistics"):
        unestimated.analyze(images[:1], class_loss(fresh, 0))
    with pytest.raises(RuntimeError, match="no feature statistics"):
        with unestimated.restrict_flow():
            pass
    with pytest.raises(RuntimeError, match="no capacity yet"):
        unestimated.capacity()


def test_statistics_of_the_wrong_shape(images):
    model = small_cnn()
    iba = IBA(model[3], feature_mean=np.zeros((8, 4, 4)), feature_std=np.ones((8, 4, 4)))
    with pytest.raises(ValueError, match=r"shape \(8, 16, 16\) per sample"):
        iba.analyze(images[:1], class_loss(model, 0))


def test_estimate_errors(images):
    model = small_cnn()
    iba = IBA(model[3])
    with pytest.raises(ValueError, match="n_samples"):
        iba.estimate(model, [images], n_samples=0)
    with pytest.raises(TypeError, match="first item is the input tensor"):
        iba.estimate(model, [{"x": images}])
    other = small_cnn()
    with pytest.raises(RuntimeError, match="did not pass the bottleneck"):
        iba.estimate(other, [images])


def test_a_layer_with_tuple_output_is_refused(images):
    lstm = torch.nn.LSTM(4, 3, batch_first=True)
    iba = IBA(lstm)
    with pytest.raises(TypeError, match="not a tensor"):
        lstm(torch.randn(2, 5, 4))
    iba.detach()
    with pytest.raises(RuntimeError, match="not attached"):
        iba.detach()


def test_helpers_name_bad_values():
    with pytest.raises(ValueError, match="idx must be an int from 0 to 6"):
        insert_into_sequential(small_cnn(), IBA(), 7)
    with pytest.raises(TypeError, match="nn.Sequential"):
        insert_into_sequential([torch.nn.ReLU()], IBA(), 0)
    with pytest.raises(ValueError, match=r"\(3, h, w\)"):
        tensor_to_np_img(torch.rand(1, 5, 5))
    with pytest.raises(TypeError, match="TorchWelfordEstimator expects a torch.Tensor"):
        TorchWelfordEstimator()(np.zeros((2, 3)))


def test_torchvision_helpers_name_the_extra_when_torchvision_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)     # import torchvision fails
    with pytest.raises(ImportError, match=r'pip install "iba-tf\[torch\]" torchvision'):
        imagenet_transform()
    with pytest.raises(ImportError, match="get_imagenet_folder needs torchvision"):
        get_imagenet_folder("/nonexistent")
