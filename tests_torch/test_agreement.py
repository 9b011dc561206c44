"""The two ports agree: the same network in Keras and in torch gives the same IBA results.

``scripts/agreement_case_tf.py`` runs in each TensorFlow venv (``.venv``: TF 1.15, Python 3.7,
or ``IBA_TF_PYTHON``; ``.venv-tf2``: TF 2.14, Python 3.11), and every test runs once per
stack, so TF 1.15, TF 2.14 and torch are checked against each other. The script builds a
small Keras CNN with an ``IBALayer`` after its first convolution, fits the statistics,
explains three inputs (the capacity with ``steps=0``, and 5 noisy runs per setting) and
writes everything to an .npz. This test rebuilds the network in torch with the copied
weights, estimates the statistics on the same images with ``IBA.estimate`` and runs the
torch IBA with the same hyperparameters.

What is compared (the noise differs between the frameworks, so the noisy results are compared
in distribution, over 3 inputs x 5 x 5 pairs of runs):

- logits, estimated mean/std/active neurons: equal up to float32 rounding;
- the capacity with ``steps=0`` (deterministic): ``rtol=1e-4, atol=1e-3`` (measured max abs
  difference 9e-5 on values up to 160 nats);
- saliency maps, "default" setting (the paper's hyperparameters): mean Spearman rank
  correlation of TF vs torch maps >= 0.99 and at most 0.002 below the TF runs' correlation
  among themselves (measured 0.9993 vs 0.9993); total bits within 2% (measured +0.05%);
  relative L1 distance of the run-mean capacities <= 0.02 (measured 0.004);
- "beta1" setting (beta=1, where the model loss and the injected noise shape the maps):
  mean Spearman >= 0.9 and at most 0.01 below the TF runs' own (measured 0.969 vs 0.970);
  total bits within 20% (measured -5% .. +4% over torch seeds).

Wrong settings on the torch side fail these checks: lr 0.8, 9 steps, sigma 1.5 or 0,
min_std 0.1 (default setting), beta 0.8 or batch_size 5 (beta1 setting).
"""
import json

import numpy as np
import pytest
import scipy.stats
import torch
import torch.nn.functional as F

from conftest import TF_STACKS, AgreementCNN, run_tf_case
from iba_tf.pytorch import IBA

RUNS = 5
# name of an IBALayer hyperparameter -> the IBA.analyze argument
TORCH_NAMES = dict(beta="beta", steps="optimization_steps", batch_size="batch_size",
                   learning_rate="lr", min_std="min_std")


@pytest.fixture(scope="module", params=sorted(TF_STACKS))
def case(request, tmp_path_factory):
    """The .npz written by the TensorFlow side, on each TensorFlow stack."""
    out = str(tmp_path_factory.mktemp("agreement") / "case.npz")
    return run_tf_case(request.param, "agreement_case_tf.py", out, "--runs", str(RUNS))


@pytest.fixture(scope="module")
def torch_side(case):
    """(net, iba, inputs): the torch network with the Keras weights, its IBA estimated."""
    net = AgreementCNN.from_case(case)
    iba = IBA(net.relu1)
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(case["estimation_images"]))
    iba.estimate(net, torch.utils.data.DataLoader(dataset, batch_size=64))
    return net, iba, torch.from_numpy(case["inputs"])


def _loss(net, target):
    target = torch.tensor([int(target)])
    return lambda x: F.cross_entropy(net(x), target.expand(len(x)))


def _mean_spearman(maps_a, maps_b, same=False):
    pairs = [(i, j) for i in range(len(maps_a)) for j in range(len(maps_b)) if not same or i < j]
    return np.mean([scipy.stats.spearmanr(maps_a[i].ravel(), maps_b[j].ravel())[0]
                    for i, j in pairs])


def test_network_and_statistics_agree(case, torch_side):
    net, iba, inputs = torch_side
    np.testing.assert_allclose(net(inputs).detach().numpy(), case["logits"], rtol=1e-5,
                               atol=1e-5)
    n = int(case["estimator_n"])
    assert iba.estimator.n_samples() == n
    np.testing.assert_allclose(iba.estimator.mean().numpy(), case["estimator_mean"],
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(iba.estimator.std().numpy(),
                               np.sqrt(case["estimator_m2"] / (n - 1)), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(iba.estimator.active_neurons().numpy(),
                                  case["estimator_nonzero"] / n > 0.01)


def test_capacity_at_the_initial_alpha_agrees_exactly(case, torch_side):
    net, iba, inputs = torch_side
    for i, target in enumerate(case["targets"]):
        capacity = iba.analyze(inputs[i:i + 1], _loss(net, target), mode="capacity",
                               optimization_steps=0)
        np.testing.assert_allclose(capacity, case["capacity_steps0"][i], rtol=1e-4, atol=1e-3)


# setting -> (min Spearman, max gap below TF's own Spearman, total bits tolerance,
#             max relative L1 of the run-mean capacity or None)
THRESHOLDS = {"default": (0.99, 0.002, 0.02, 0.02), "beta1": (0.9, 0.01, 0.2, None)}


@pytest.mark.parametrize("setting", sorted(THRESHOLDS))
def test_saliency_maps_agree_in_distribution(case, torch_side, setting):
    net, iba, inputs = torch_side
    hyperparameters = json.loads(str(case["settings"]))[setting]
    assert hyperparameters["smooth_std"] == iba.sigma
    overrides = {TORCH_NAMES[name]: value for name, value in hyperparameters.items()
                 if name in TORCH_NAMES}
    tf_maps, tf_capacity = case["saliency_" + setting], case["capacity_" + setting]
    cross, within_tf, tf_bits, torch_bits, l1 = [], [], [], [], []
    for i, target in enumerate(case["targets"]):
        maps, capacities = [], []
        for run in range(RUNS):
            torch.manual_seed(run)
            maps.append(iba.analyze(inputs[i:i + 1], _loss(net, target), **overrides))
            capacities.append(iba.capacity().numpy())
        cross.append(_mean_spearman(tf_maps[i], maps))
        within_tf.append(_mean_spearman(tf_maps[i], tf_maps[i], same=True))
        tf_bits.append(tf_maps[i].sum())
        torch_bits.append(np.sum(maps))
        tf_mean = tf_capacity[i].mean(0)
        l1.append(np.abs(np.mean(capacities, 0) - tf_mean).sum() / tf_mean.sum())
    cross, within_tf = np.mean(cross), np.mean(within_tf)
    bits_ratio = np.sum(torch_bits) / np.sum(tf_bits)
    min_spearman, max_gap, bits_tolerance, max_l1 = THRESHOLDS[setting]
    summary = "Spearman TF-torch {:.4f}, TF-TF {:.4f}, total bits torch/TF {:.4f}, L1 {:.4f}" \
        .format(cross, within_tf, bits_ratio, np.mean(l1))
    print(setting, summary)      # shown with pytest -rP
    assert cross >= min_spearman, summary
    assert cross >= within_tf - max_gap, summary
    assert abs(bits_ratio - 1) <= bits_tolerance, summary
    if max_l1 is not None:
        assert np.mean(l1) <= max_l1, summary
