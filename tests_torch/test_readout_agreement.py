"""The two ports' Readout Bottlenecks agree on the same model, statistics and readout weights.

``scripts/readout_agreement_case_tf.py`` runs in each TensorFlow venv (``.venv``, TF 1.15,
or ``IBA_TF_PYTHON``; ``.venv-tf2``, TF 2.14): the CNN of the Per-Sample agreement test, an
``IBAReadout`` after conv1 reading conv1, conv2 (7x7, resized bilinearly) and the logits
(broadcast), statistics fitted on the same images, random readout weights. The capacity is
deterministic (no noise enters it), so it is compared value by value; training draws noise in
each framework and is not compared.
"""
import numpy as np
import pytest
import torch

from conftest import TF_STACKS, AgreementCNN, run_tf_case
from iba_tf.pytorch import IBAReadout


@pytest.fixture(scope="module", params=sorted(TF_STACKS))
def case(request, tmp_path_factory):
    """The .npz written by the TensorFlow side, on each TensorFlow stack."""
    out = str(tmp_path_factory.mktemp("readout_agreement") / "case.npz")
    return run_tf_case(request.param, "readout_agreement_case_tf.py", out)


@pytest.fixture(scope="module")
def torch_side(case):
    net = AgreementCNN.from_case(case)
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
