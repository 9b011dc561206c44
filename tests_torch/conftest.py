"""Fixtures of the PyTorch port's tests: a small CNN and its fitted bottleneck.

These tests run in the torch venv (``bash scripts/torch_tests.sh``), not with TensorFlow.
"""
import os

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

# Small models: one thread is as fast and leaves the shared cores to others.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def seeded():
    """Each test starts from the same torch and numpy random state."""
    torch.manual_seed(0)
    np.random.seed(0)


def small_cnn(classes=5, seed=0):
    """Conv -> ReLU -> Conv (stride 2) -> ReLU -> Flatten -> Linear on 3x32x32 images.

    The bottleneck of the tests sits after the second ReLU (``model[3]``): features 8x16x16.
    """
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, stride=2), nn.ReLU(),
        nn.Flatten(), nn.Linear(8 * 16 * 16, classes),
    ).eval()


def class_loss(model, target):
    """The closure ``analyze`` needs: mean cross-entropy of class ``target`` over the batch."""
    target = torch.tensor([target])
    return lambda x: F.cross_entropy(model(x), target.expand(len(x)))


def loader(images, batch_size=10):
    """A DataLoader of (image,) batches."""
    dataset = torch.utils.data.TensorDataset(images)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size)


@pytest.fixture
def images():
    """40 random 3x32x32 images."""
    return torch.rand(40, 3, 32, 32)


@pytest.fixture
def fitted(images):
    """(model, iba, images): the small CNN with an IBA after its second ReLU, estimated."""
    from iba_tf.pytorch import IBA
    model = small_cnn()
    iba = IBA(model[3])
    iba.estimate(model, loader(images))
    return model, iba, images
