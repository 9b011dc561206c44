"""Fixtures of the PyTorch port's tests: a small CNN and its fitted bottleneck.

These tests run in the torch venv (``bash scripts/torch_tests.sh``), not with TensorFlow.
"""
import os
import subprocess

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The TensorFlow stacks the agreement tests compare with: stack -> its venv's interpreter.
# IBA_TF_PYTHON replaces the TF 1.15 one (e.g. where the venv lives elsewhere).
TF_STACKS = {"tf1.15": os.environ.get("IBA_TF_PYTHON")
             or os.path.join(ROOT, ".venv", "bin", "python"),
             "tf2.14": os.path.join(ROOT, ".venv-tf2", "bin", "python")}

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


def run_tf_case(stack, script, out, *args):
    """Runs ``scripts/<script>`` in the venv of ``stack`` (a key of ``TF_STACKS``).

    The script writes the TensorFlow side of an agreement test to ``out`` (.npz); returns its
    arrays. Skips the test, with the reason, where that stack's venv is missing or cannot
    import TensorFlow (``make test`` builds both before the torch tests run).
    """
    python = TF_STACKS[stack]
    if not os.path.exists(python):
        pytest.skip("agreement with {} skipped: no venv at {} (`make test` builds it)"
                    .format(stack, python))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", PYTHONPATH=ROOT)
    result = subprocess.run([python, os.path.join(ROOT, "scripts", script), "--out", out]
                            + list(args), capture_output=True, text=True, env=env, cwd=ROOT)
    if result.returncode != 0 and "No module named 'tensorflow'" in result.stderr:
        pytest.skip("agreement with {} skipped: {} has no tensorflow".format(stack, python))
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(out) as data:
        return {key: data[key] for key in data.files}


class AgreementCNN(nn.Module):
    """The agreement tests' CNN in torch (``scripts/agreement_case_tf.py`` builds it in Keras).

    conv1 + ReLU -> conv2 (stride 2, 'valid') + ReLU -> dense over Keras' flatten order.
    """

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)       # Keras 'same', stride 1
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 8, 3, stride=2)        # Keras 'valid', stride 2
        self.relu2 = nn.ReLU()
        self.dense = nn.Linear(7 * 7 * 8, 4)

    def forward(self, x):
        hidden = self.relu2(self.conv2(self.relu1(self.conv1(x))))
        # Keras flattens (h, w, c): permute to channels-last first
        return self.dense(hidden.permute(0, 2, 3, 1).flatten(1))

    @classmethod
    def from_case(cls, case):
        """The network in eval mode with the Keras weights that ``case`` (the .npz) holds."""
        net = cls().eval()
        with torch.no_grad():
            for name in ("conv1", "conv2", "dense"):
                getattr(net, name).weight.copy_(torch.from_numpy(case[name + "_weight"]))
                getattr(net, name).bias.copy_(torch.from_numpy(case[name + "_bias"]))
        return net
