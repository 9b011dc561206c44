"""The method's sanity properties (shared/IBA_METHOD.md), shown by the PyTorch port."""
import collections

import numpy as np
import pytest
import scipy.stats
import torch
import torch.nn.functional as F
from torch import nn

from conftest import class_loss, loader, small_cnn
from iba_tf.pytorch import IBA, insert_into_sequential


def test_huge_beta_removes_information_and_zero_beta_keeps_it(fitted):
    model, iba, images = fitted
    loss = class_loss(model, 0)
    default = iba.analyze(images[:1], loss, mode="capacity").sum()
    huge = iba.analyze(images[:1], loss, mode="capacity", beta=1e4, optimization_steps=20).sum()
    keep = iba.analyze(images[:1], loss, mode="capacity", beta=0).sum()
    start = iba.analyze(images[:1], loss, mode="capacity", optimization_steps=0).sum()
    assert huge < 0.01 * default
    assert keep > 100 * default
    # without blur, beta=0 keeps (at least) most of the information of the start
    iba.sigma = 0
    assert iba.analyze(images[:1], loss, mode="capacity", beta=0).sum() > 0.8 * start


class _Corner(nn.Module):
    """Keeps the top-left 4x4 corner of a (n, c, 8, 8) map."""

    def forward(self, x):
        return x[:, :, :4, :4]


def test_capacity_concentrates_where_the_output_depends_on_the_feature():
    # the bottleneck (inserted, layer=None) sits on the input; the tail reads only a corner
    tail = nn.Sequential(_Corner(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    iba = IBA(sigma=0)
    model = insert_into_sequential(tail, iba, 0)
    data = torch.randn(50, 4, 8, 8)
    iba.estimate(model, loader(data))
    label = int(model(data[:1]).argmax())
    capacity = iba.analyze(data[:1], class_loss(model, label), mode="capacity", beta=1,
                           optimization_steps=30).sum(0)
    inside = capacity[:4, :4].mean()
    outside = np.concatenate([capacity[4:].ravel(), capacity[:4, 4:].ravel()]).mean()
    assert outside < 0.05 * inside, (inside, outside)
    assert outside < 0.05


def test_with_everything_replaced_by_noise_the_logits_ignore_the_input(fitted):
    model, _, images = fitted
    iba = IBA(model[3], initial_alpha=-30.)       # lambda ~ 1e-13: only noise passes
    iba.estimate(model, loader(images))
    plain = model(images[:2])
    outputs = []
    for image in images[:2]:
        torch.manual_seed(5)
        with iba.restrict_flow():
            outputs.append(model(image[None]))
    torch.testing.assert_close(outputs[0], outputs[1])   # the same noise, different inputs
    assert (outputs[0] - plain[:1]).abs().max() > 1e-3
    torch.testing.assert_close(model(images[:2]), plain, rtol=0, atol=0)   # identity again


def _square_images(n, generator):
    """Noise images with a bright 8x8 square; the class is the square's quadrant."""
    images = torch.randn(n, 3, 32, 32, generator=generator) * 0.3
    labels = torch.randint(0, 4, (n,), generator=generator)
    masks = torch.zeros(n, 32, 32, dtype=torch.bool)
    for i, label in enumerate(labels.tolist()):
        top = int(torch.randint(0, 9, (1,), generator=generator)) + 16 * (label // 2)
        left = int(torch.randint(0, 9, (1,), generator=generator)) + 16 * (label % 2)
        masks[i, top:top + 8, left:left + 8] = True
    return images + 1.5 * masks[:, None].float(), labels, masks


@pytest.fixture(scope="module")
def trained():
    """The small CNN trained (about a second) to tell the quadrant of a bright square."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    images, labels, _ = _square_images(1000, generator)
    model = small_cnn(classes=4).train()
    optimizer = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(3):
        for start in range(0, 1000, 50):
            optimizer.zero_grad()
            F.cross_entropy(model(images[start:start + 50]), labels[start:start + 50]).backward()
            optimizer.step()
    model.eval()
    test = _square_images(6, generator)
    accuracy = (model(test[0]).argmax(1) == test[1]).float().mean()
    assert accuracy == 1, accuracy
    iba = IBA(model[3])
    iba.estimate(model, loader(images[:500], 50))
    return model, iba, test


def _maps(model, iba, images, labels, seed=0):
    maps = []
    for image, label in zip(images, labels.tolist()):
        torch.manual_seed(seed)
        maps.append(iba.analyze(image[None], class_loss(model, label)))
    return np.array(maps)


def _share_on_square(maps, masks):
    return np.array([m[mask.numpy()].sum() / m.sum() for m, mask in zip(maps, masks)])


def _spearman(a, b):
    return np.mean([scipy.stats.spearmanr(x.ravel(), y.ravel())[0] for x, y in zip(a, b)])


def test_the_bits_lie_on_the_object_and_randomising_the_weights_changes_the_map(trained):
    model, iba, (images, labels, masks) = trained
    maps = _maps(model, iba, images, labels)
    # the square covers 1/16 of the image; the maps put far more of their bits there
    assert _share_on_square(maps, masks).mean() > 0.3
    rerun = _maps(model, iba, images, labels, seed=1)
    same_model = _spearman(maps, rerun)

    # model parameter randomisation (top layer, after the bottleneck): the map changes
    state = collections.OrderedDict((k, v.clone()) for k, v in model.state_dict().items())
    try:
        torch.manual_seed(10)
        model[5].reset_parameters()
        randomised = _maps(model, iba, images, labels)
    finally:
        model.load_state_dict(state)
    # measured: 0.95 between reruns, 0.54 after randomising
    assert _spearman(maps, randomised) < same_model - 0.2, (_spearman(maps, randomised),
                                                           same_model)
    assert _share_on_square(randomised, masks).mean() < 0.75 * _share_on_square(maps, masks).mean()
