"""The two ports' Readout Bottlenecks agree on the same model, statistics and readout weights.

``scripts/readout_agreement_case_tf.py`` runs in the TensorFlow venv (``.venv``; set
``IBA_TF_PYTHON`` for another interpreter): the CNN of the Per-Sample agreement test, an
``IBAReadout`` after conv1 reading conv1, conv2 (7x7, resized bilinearly) and the logits
(broadcast), statistics fitted on the same images, random readout weights. The capacity is
deterministic (no noise enters it), so it is compared value by value; training draws noise in
each framework and is not compared.
"""
import os
import subprocess

import numpy as np
import pytest
import torch
from torch import nn

from iba_tf.pytorch import IBAReadout

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "readout_agreement_case_tf.py")


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """The .npz written by the TensorFlow side."""
    python = os.environ.get("IBA_TF_PYTHON") or os.path.join(ROOT, ".venv", "bin", "python")
    if not os.path.exists(python):
        pytest.skip("readout agreement skipped: no TensorFlow venv at {} (run `make venv`, or "
                    "set IBA_TF_PYTHON)".format(python))
    out = str(tmp_path_factory.mktemp("readout_agreement") / "case.npz")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="",
               PYTHONPATH=ROOT)
    result = subprocess.run([python, SCRIPT, "--out", out], capture_output=True, text=True,
                            env=env, cwd=ROOT)
    if result.returncode != 0 and "No module named 'tensorflow'" in result.stderr:
        pytest.skip("readout agreement skipped: {} has no tensorflow".format(python))
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(out) as data:
        return {key: data[key] for key in data.files}


class _Net(nn.Module):
    """conv1 + ReLU -> conv2 (stride 2, 'valid') + ReLU -> dense over Keras' flatten order."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 8, 3, stride=2)
        self.relu2 = nn.ReLU()
        self.dense = nn.Linear(7 * 7 * 8, 4)

    def forward(self, x):
        hidden = self.relu2(self.conv2(self.relu1(self.conv1(x))))
        return self.dense(hidden.permute(0, 2, 3, 1).flatten(1))


@pytest.fixture(scope="module")
def torch_side(case):
    net = _Net().eval()
    with torch.no_grad():
        for name in ("conv1", "conv2", "dense"):
            getattr(net, name).weight.copy_(torch.from_numpy(case[name + "_weight"]))
            getattr(net, name).bias.copy_(torch.from_numpy(case[name + "_bias"]))
    readout = IBAReadout(net.relu1, [net.relu1, net.relu2, net.dense], net)
    images = torch.from_numpy(case["estimation_images"])
    dataset = torch.utils.data.TensorDataset(images)
    readout.estimate(net, torch.utils.data.DataLoader(dataset, batch_size=64),
                     n_samples=len(images))
    return net, readout, torch.from_numpy(case["inputs"])


def test_the_initial_weights_are_the_same(case, torch_side):
    _, readout, _ = torch_side
    for i, value in enumerate(readout.get_weights()):
        np.testing.assert_array_equal(value, case["initial_{}".format(i)])


def test_capacity_and_saliency_agree(case, torch_side):
    net, readout, inputs = torch_side
    np.testing.assert_allclose(net(inputs).detach().numpy(), case["logits"], rtol=1e-5,
                               atol=1e-5)
    readout.set_weights([case["readout_{}".format(i)] for i in range(6)])
    capacity = readout.analyze_batch(inputs, net, mode="capacity")
    # the maps are not trivial: alpha spans the clip range, so lambda varies
    assert capacity.std() > 0.1 * capacity.mean()
    np.testing.assert_allclose(capacity, case["capacity"], rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(readout.analyze_batch(inputs, net), case["saliency"],
                               rtol=1e-3, atol=1e-3)
