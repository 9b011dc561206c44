"""The PyTorch port's API on a small CNN: attaching, estimating, analysing, helpers."""
import numpy as np
import pytest
import torch
from torch import nn

from conftest import class_loss, loader, small_cnn
from iba_tf import WelfordEstimator
from iba_tf.pytorch import (IBA, TorchWelfordEstimator, insert_into_sequential,
                            tensor_to_np_img, to_saliency_map)
from iba_tf.pytorch.bottleneck import blur, capacity_per_neuron


def test_attach_and_detach_leave_the_outputs_unchanged(images):
    model = small_cnn()
    before = model(images)
    iba = IBA(model[3])
    torch.testing.assert_close(model(images), before, rtol=0, atol=0)
    iba.estimate(model, loader(images))
    iba.analyze(images[:1], class_loss(model, 0))
    torch.testing.assert_close(model(images), before, rtol=0, atol=0)
    with iba.restrict_flow():
        restricted = model(images[:1])
    assert (restricted - before[:1]).abs().max() > 1e-4     # the noise reaches the logits
    torch.testing.assert_close(model(images), before, rtol=0, atol=0)
    iba.detach()
    assert not model[3]._forward_hooks
    torch.testing.assert_close(model(images), before, rtol=0, atol=0)


def test_estimate_then_analyze_gives_an_input_sized_map(fitted):
    model, iba, images = fitted
    assert iba.estimator.n_samples() == 40
    features = model[:4](images).detach().double()
    torch.testing.assert_close(iba.estimator.mean(), features.mean(0))
    torch.testing.assert_close(iba.estimator.std(), features.std(0))
    saliency = iba.analyze(images[:1], class_loss(model, 2))
    assert isinstance(saliency, np.ndarray) and saliency.shape == (32, 32)
    assert np.all(np.isfinite(saliency)) and np.all(saliency >= 0)
    capacity = iba.analyze(images[:1], class_loss(model, 2), mode="capacity")
    assert capacity.shape == (8, 16, 16) and np.all(np.isfinite(capacity))
    np.testing.assert_allclose(iba.capacity().numpy(), capacity)
    # saliency = the shared conversion of the capacity: bits, summed over channels, resized
    bits = to_saliency_map(capacity, (32, 32))
    assert bits.shape == (32, 32)
    np.testing.assert_allclose(bits.sum(), capacity.sum() / np.log(2), rtol=1e-5)


def test_analyze_leaves_the_weights_and_their_gradients_alone(fitted):
    model, iba, images = fitted
    weights = [p.detach().clone() for p in model.parameters()]
    iba.analyze(images[:1], class_loss(model, 1))
    for parameter, weight in zip(model.parameters(), weights):
        assert torch.equal(parameter, weight) and parameter.grad is None


def test_steps_zero_gives_the_capacity_formula_at_the_initial_alpha(fitted):
    model, iba, images = fitted
    capacity = iba.analyze(images[:1], class_loss(model, 0), mode="capacity",
                           optimization_steps=0, min_std=0.05)
    feature = model[:4](images[:1])[0].detach().double().numpy()
    mean = iba.estimator.mean().numpy()
    std = np.maximum(iba.estimator.std().numpy(), 0.05)
    active = iba.estimator.active_neurons().numpy()
    lam = 1 / (1 + np.exp(-5.))
    r = (feature - mean) / std
    expected = -0.5 * (1 + np.log((1 - lam) ** 2) - (lam * r) ** 2 - (1 - lam) ** 2) * active
    np.testing.assert_allclose(capacity, expected, rtol=1e-4, atol=1e-4)
    # lr=0 leaves alpha where it started, too; 0 is a value, not "unset"
    np.testing.assert_allclose(iba.analyze(images[:1], class_loss(model, 0), mode="capacity",
                                           lr=0, min_std=0.05), expected, rtol=1e-4, atol=1e-4)


def test_analyze_works_inside_no_grad(fitted):
    model, iba, images = fitted
    torch.manual_seed(3)
    expected = iba.analyze(images[:1], class_loss(model, 0), mode="capacity")
    torch.manual_seed(3)
    with torch.no_grad():
        np.testing.assert_array_equal(iba.analyze(images[:1], class_loss(model, 0),
                                                  mode="capacity"), expected)


def test_overrides_apply_to_one_call_only(fitted):
    model, iba, images = fitted
    calls = []

    def loss(x):
        calls.append(len(x))
        return class_loss(model, 0)(x)
    iba.analyze(images[:1], loss, optimization_steps=3, batch_size=4)
    assert calls == [1, 4, 4, 4]          # one pass to read the feature, then the steps
    calls.clear()
    iba.analyze(images[:1], loss)
    assert calls == [1] + [10] * 10
    assert (iba.beta, iba.optimization_steps, iba.batch_size, iba.lr) == (10, 10, 10, 1)


def test_interrupt_execution_stops_at_the_bottleneck(fitted):
    model, iba, images = fitted
    reached = []
    with iba.interrupt_execution():
        model(images)
        reached.append(True)
    assert not reached
    model(images)          # and the model runs to the end again afterwards


def test_enable_estimation_and_reset_estimate(images):
    model = small_cnn()
    iba = IBA(model[3])
    with iba.enable_estimation():
        model(images[:7])
    assert iba.estimator.n_samples() == 7
    model(images)
    assert iba.estimator.n_samples() == 7    # off outside the context
    iba.reset_estimate()
    assert iba.estimator.n_samples() == 0
    iba.estimate(model, loader(images), n_samples=15)
    assert iba.estimator.n_samples() == 20   # whole batches until 15 are reached
    iba.estimate(model, loader(images), n_samples=10, reset=False)
    assert iba.estimator.n_samples() == 30


def test_inserted_module_and_the_input_hook_match_the_output_hook(fitted):
    model, iba, images = fitted
    torch.manual_seed(1)
    expected = iba.analyze(images[:1], class_loss(model, 3), mode="capacity")
    iba.detach()

    # the same feature as the input of the next layer
    on_input = IBA(model[4], input_or_output="input", estimator=iba.estimator)
    torch.manual_seed(1)
    np.testing.assert_allclose(on_input.analyze(images[:1], class_loss(model, 3),
                                                mode="capacity"), expected, rtol=1e-5, atol=1e-6)
    on_input.detach()

    # inserted into the sequential (layer=None)
    inserted = IBA(estimator=iba.estimator)
    extended = insert_into_sequential(model, inserted, 4)
    assert len(extended) == 7 and extended[4] is inserted and extended[5] is model[4]
    torch.testing.assert_close(extended(images), model(images), rtol=0, atol=0)
    torch.manual_seed(1)
    np.testing.assert_allclose(inserted.analyze(images[:1], class_loss(extended, 3),
                                                mode="capacity"), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(RuntimeError, match="not attached"):
        inserted.detach()


def test_insert_into_sequential_keeps_names():
    named = nn.Sequential(__import__("collections").OrderedDict(
        [("conv", nn.Conv2d(1, 2, 3)), ("iba", nn.ReLU())]))
    extended = insert_into_sequential(named, nn.Identity(), 1)
    assert [name for name, _ in extended.named_children()] == ["conv", "iba_1", "iba"]


def test_relu_keeps_the_noise_non_negative(fitted):
    model, _, images = fitted
    iba = IBA(model[3], relu=True, beta=1e4)
    iba.estimate(model, loader(images))
    iba.analyze(images[:1], class_loss(model, 0))
    outputs = []
    model[4].register_forward_hook(lambda module, inputs, output: outputs.append(inputs[0]))
    with iba.restrict_flow():
        model(images[:5])
    assert outputs[0].min() >= 0


def test_given_statistics_and_a_numpy_estimator(images):
    model = small_cnn()
    iba = IBA(model[2])      # before the ReLU: every neuron is active
    iba.estimate(model, loader(images))
    assert iba.estimator.active_neurons().all()
    torch.manual_seed(2)
    from_estimator = iba.analyze(images[:1], class_loss(model, 0), mode="capacity")
    iba.detach()
    given = IBA(model[2], feature_mean=iba.estimator.mean().numpy(),
                feature_std=iba.estimator.std())
    torch.manual_seed(2)
    np.testing.assert_allclose(given.analyze(images[:1], class_loss(model, 0), mode="capacity"),
                               from_estimator, rtol=1e-5, atol=1e-6)
    given.detach()
    wrapped = IBA(model[2], estimator=iba.estimator.welford)   # the numpy estimator
    assert isinstance(wrapped.estimator, TorchWelfordEstimator)
    assert wrapped.estimator.n_samples() == 40


def test_restrict_flow_before_analyze_uses_the_initial_alpha(fitted):
    model, iba, images = fitted
    with iba.restrict_flow():
        model(images[:2])
    assert iba.capacity().shape == (8, 16, 16)


def test_restrict_flow_is_restored_when_the_body_raises(fitted):
    model, iba, images = fitted
    before = model(images[:1])
    with pytest.raises(KeyError):
        with iba.restrict_flow():
            raise KeyError("inside")
    torch.testing.assert_close(model(images[:1]), before, rtol=0, atol=0)


def test_huge_initial_alpha_gives_finite_capacity(fitted):
    model, _, images = fitted
    iba = IBA(model[3], initial_alpha=200.)
    iba.estimate(model, loader(images))
    capacity = iba.analyze(images[:1], class_loss(model, 0), mode="capacity",
                           optimization_steps=2)
    assert np.all(np.isfinite(capacity))
    assert np.all(np.isfinite(capacity_per_neuron(torch.ones(3), torch.zeros(3),
                                                  torch.ones(3)).numpy()))


def test_blur_equals_scipy_gaussian_filter_with_reflect_padding():
    import scipy.ndimage
    x = torch.rand(3, 9, 6, dtype=torch.float64)
    for sigma in (0.5, 1., 2.5):
        expected = np.stack([scipy.ndimage.gaussian_filter(channel, sigma, mode="reflect",
                                                           truncate=4.) for channel in x.numpy()])
        np.testing.assert_allclose(blur(x, sigma).numpy(), expected, rtol=1e-5, atol=1e-6)
    assert blur(x, 0) is x and blur(x, None) is x
    # 1-d features (c, t) are blurred along t
    assert blur(torch.rand(2, 7), 1.).shape == (2, 7)


def test_torch_welford_estimator_wraps_the_numpy_one(tmp_path):
    batches = [torch.randn(10, 3, 6, 6) for _ in range(5)]
    estimator = TorchWelfordEstimator(3, 6, 6)
    for batch in batches:
        assert estimator(batch) is batch
    data = torch.cat(batches).double()
    assert estimator.n_samples() == 50 and estimator.shape == (3, 6, 6)
    torch.testing.assert_close(estimator.mean(), data.mean(0))
    torch.testing.assert_close(estimator.std(), data.std(0))
    assert estimator.active_neurons().dtype == torch.bool
    reference = WelfordEstimator().fit(data.numpy())
    np.testing.assert_allclose(estimator.welford.std(), reference.std(), rtol=1e-6)

    # its state is part of state_dict, as tensors: it survives torch.save / weights_only load
    torch.save(estimator.state_dict(), tmp_path / "estimator.pt")
    restored = TorchWelfordEstimator()
    restored.load_state_dict(torch.load(tmp_path / "estimator.pt", weights_only=True))
    assert restored.n_samples() == 50
    torch.testing.assert_close(restored.std(), estimator.std(), rtol=0, atol=0)
    with pytest.raises(ValueError, match="shape"):
        estimator(torch.randn(2, 3, 5, 5))
    with pytest.raises(ValueError, match="positive ints"):
        TorchWelfordEstimator(3, 0)


def test_iba_state_dict_keeps_the_estimate(fitted):
    model, iba, images = fitted
    copy = IBA()
    copy.load_state_dict(iba.state_dict())
    assert copy.estimator.n_samples() == 40
    torch.testing.assert_close(copy.estimator.mean(), iba.estimator.mean())


def test_tensor_to_np_img_undoes_the_imagenet_normalisation():
    img = np.random.rand(5, 4, 3)
    normalised = (img - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    tensor = torch.from_numpy(normalised.transpose(2, 0, 1)).float()
    np.testing.assert_allclose(tensor_to_np_img(tensor), img, atol=1e-6)
    assert tensor_to_np_img(tensor[None]).shape == (5, 4, 3)


def test_to_saliency_map_takes_tensors_channels_first():
    capacity = torch.ones(4, 7, 7)
    saliency = to_saliency_map(capacity, (28, 28))
    assert saliency.shape == (28, 28)
    np.testing.assert_allclose(saliency.sum(), 4 * 49 / np.log(2))


def test_plot_saliency_map_draws_the_analysis(fitted):
    pytest.importorskip("matplotlib")
    from iba_tf.pytorch import plot_saliency_map
    model, iba, images = fitted
    saliency = iba.analyze(images[:1], class_loss(model, 0))
    ax = plot_saliency_map(saliency, img=images[0].permute(1, 2, 0).numpy())
    assert ax.figure.axes[-1].get_ylabel() == "Bits / Pixel"
