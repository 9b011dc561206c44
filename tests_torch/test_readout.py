"""IBAReadout, the PyTorch Readout Bottleneck: training, maps, hooks, errors."""
import numpy as np
import pytest
import torch
from torch import nn

from conftest import loader, small_cnn
from iba_tf.pytorch import IBA, IBAReadout, TorchWelfordEstimator
from iba_tf.readout_spec import initial_weights


def _readout(model, **kwargs):
    """A readout on the small CNN: attached after the 2nd ReLU, reading both ReLUs and logits."""
    return IBAReadout(model[3], [model[1], model[3], model[5]], model, **kwargs)


@pytest.fixture
def estimated(images):
    model = small_cnn()
    readout = _readout(model)
    readout.estimate(model, loader(images))
    return model, readout, images


def test_training_lowers_the_objective(estimated):
    model, readout, images = estimated
    history = readout.train(model, loader(images), epochs=6)
    assert len(history) == 6 and readout.steps_trained == 24
    losses = [epoch["loss"] for epoch in history]
    assert losses[-1] < 0.5 * losses[0], losses
    assert history[-1]["information_loss"] < history[0]["information_loss"]
    for epoch in history:
        assert epoch["loss"] == pytest.approx(epoch["model_loss"]
                                              + readout.beta * epoch["information_loss"])


def test_the_readout_starts_from_the_shared_initial_weights(estimated):
    _, readout, _ = estimated
    # readout maps: 8 + 8 channels of the ReLUs, 5 logits; the feature has 8 channels
    expected = initial_weights(21, 8, seed=0)
    for got, want in zip(readout.get_weights(), expected):
        np.testing.assert_array_equal(got, want)
    assert readout.steps_trained == 0


def test_maps_shapes_and_analyze_of_one_input_equals_the_batch(estimated):
    model, readout, images = estimated
    readout.train(model, loader(images), epochs=1)
    saliency = readout.analyze_batch(images[:3], model)
    capacity = readout.analyze_batch(images[:3], model, mode="capacity")
    assert saliency.shape == (3, 32, 32) and capacity.shape == (3, 8, 16, 16)
    assert np.all(capacity >= 0) and np.all(np.isfinite(saliency))
    # total bits are kept by the resizing
    np.testing.assert_allclose(saliency.sum((1, 2)), capacity.sum((1, 2, 3)) / np.log(2),
                               rtol=1e-5)
    np.testing.assert_allclose(readout.analyze(images[1:2], model), saliency[1], rtol=1e-5)
    np.testing.assert_allclose(readout.analyze(images[1:2], model, mode="capacity"),
                               capacity[1], rtol=1e-5)


class _Gated(nn.Module):
    """The logits read the value channel only where the marker channel is 1 (a 3x3 square)."""

    def __init__(self):
        super().__init__()
        self.value = nn.Conv2d(1, 1, 1)
        self.marker = nn.Identity()
        with torch.no_grad():
            self.value.weight.fill_(1.)
            self.value.bias.zero_()

    def forward(self, x):
        total = (self.marker(x[:, :1]) * self.value(x[:, 1:])).sum((1, 2, 3))
        return torch.stack([total, -total], 1)


def _gated_data(n, generator):
    marker = torch.zeros(n, 1, 8, 8)
    for i in range(n):
        top, left = torch.randint(0, 6, (2,), generator=generator).tolist()
        marker[i, 0, top:top + 3, left:left + 3] = 1
    return torch.cat([marker, torch.randn(n, 1, 8, 8, generator=generator)], 1)


def test_maps_concentrate_where_the_output_reads_the_input():
    generator = torch.Generator().manual_seed(0)
    model = _Gated().eval()
    data = loader(_gated_data(200, generator), batch_size=20)
    readout = IBAReadout(model.value, [model.marker, model.value], model, sigma=0, beta=1,
                         lr=0.05)
    readout.estimate(model, data)
    readout.train(model, data, epochs=10)
    test = _gated_data(10, generator)
    capacity = readout.analyze_batch(test, model, mode="capacity")[:, 0]
    read = test[:, 0].numpy() > 0
    inside, outside = capacity[read].mean(), capacity[~read].mean()
    assert outside < 0.02 * inside, (inside, outside)


def test_the_model_is_unchanged_and_detach_removes_every_hook(estimated):
    model, readout, images = estimated
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    plain = model(images[:4]).detach()
    readout.train(model, loader(images), epochs=1)
    readout.analyze_batch(images[:4], model)
    torch.testing.assert_close(model(images[:4]), plain, rtol=0, atol=0)
    for name, param in model.named_parameters():
        torch.testing.assert_close(param, before[name], rtol=0, atol=0)
        assert param.grad is None
    readout.detach()
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    torch.testing.assert_close(model(images[:4]), plain, rtol=0, atol=0)


def test_reset_estimate_forgets_every_statistic(estimated):
    model, readout, images = estimated
    readout.train(model, loader(images), epochs=1)
    readout.reset_estimate()
    assert readout.estimator.n_samples() == 0
    assert all(e.n_samples() == 0 for e in readout.readout_estimators)
    with pytest.raises(RuntimeError, match="statistics"):
        readout.analyze_batch(images[:2], model)


def test_set_weights_round_trip_and_count_as_trained(estimated):
    model, readout, images = estimated
    rng = np.random.RandomState(1)
    values = [rng.randn(*w.shape).astype(np.float32) for w in readout.get_weights()]
    readout.set_weights(values)
    for got, want in zip(readout.get_weights(), values):
        np.testing.assert_array_equal(got, want)
    assert readout.analyze_batch(images[:2], model).shape == (2, 32, 32)
    with pytest.raises(ValueError, match="shape"):
        readout.set_weights([v.T for v in values])


def test_it_is_an_iba_with_custom_estimators(images):
    class Estimator(TorchWelfordEstimator):
        pass
    model = small_cnn()
    readout = _readout(model, estimator_type=Estimator, beta=3)
    assert isinstance(readout, IBA) and readout.beta == 3 and readout.lr == 1e-2
    readout.estimate(model, loader(images), n_samples=20)
    assert isinstance(readout.estimator, Estimator)
    assert [e.n_samples() for e in readout.readout_estimators] == [20, 20, 20]


# ---------------------------------------------------------------------- errors
def test_layers_that_are_not_in_the_model_are_refused():
    model, other = small_cnn(), small_cnn(seed=1)
    with pytest.raises(ValueError, match="readout layer 1 .* not a module of the model"):
        IBAReadout(model[3], [model[1], other[3]], model)
    with pytest.raises(ValueError, match="attach layer .* not a module"):
        IBAReadout(other[3], [model[1]], model)
    with pytest.raises(ValueError, match="readout_layers is empty"):
        IBAReadout(model[3], [], model)
    with pytest.raises(TypeError, match="estimator_type"):
        IBAReadout(model[3], [model[1]], model, estimator_type=dict)
    assert all(not m._forward_hooks for m in model.modules())   # nothing was attached


def test_readout_and_attach_layers_of_the_wrong_kind(images):
    model = small_cnn()
    # the Flatten output (n, 2048) is a vector: allowed; a (n, c, h) output is not
    readout = IBAReadout(model[3], [model[4]], model)
    readout.estimate(model, loader(images))
    odd = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(2), nn.Flatten(), nn.Linear(
        4 * 32 * 32, 2)).eval()
    with pytest.raises(ValueError, match="readout layer 0 .*cannot be brought"):
        IBAReadout(odd[0], [odd[1]], odd).estimate(odd, loader(images))
    with pytest.raises(ValueError, match="needs a feature map"):
        IBAReadout(odd[2], [odd[0]], odd).estimate(odd, loader(images))


def test_analyze_and_train_in_the_wrong_order(images):
    model = small_cnn()
    readout = _readout(model)
    with pytest.raises(RuntimeError, match="estimate"):
        readout.train(model, loader(images))
    readout.estimate(model, loader(images))
    with pytest.raises(RuntimeError, match="not trained"):
        readout.analyze(images[:1], model)
    readout.train(model, loader(images), epochs=1, steps_per_epoch=1)
    with pytest.raises(ValueError, match="one input"):
        readout.analyze(images[:2], model)
    with pytest.raises(ValueError, match="mode"):
        readout.analyze(images[:1], model, mode="bits")
    with pytest.raises(RuntimeError, match="did not pass"):
        readout.analyze(images[:1], small_cnn(seed=1))


def test_bad_labels_and_a_nan_loss_keep_the_last_good_weights(estimated):
    model, readout, images = estimated
    labels = torch.zeros(40, dtype=torch.long)
    readout.train(model, [(images[:10], labels[:10])], epochs=1)
    good = readout.get_weights()
    with pytest.raises(ValueError, match="labels"):
        readout.train(model, [(images[:10], labels[:5])])
    bad = images[:10].clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="epoch 1, step 2"):
        readout.train(model, [(images[:10], labels[:10]), (bad, labels[:10])])
    after_first = readout.get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(after_first, good))
    assert all(np.all(np.isfinite(w)) for w in after_first)
