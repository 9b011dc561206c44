"""The tensor arithmetic of the PyTorch bottleneck: blur, capacity and the Adam update.

Stateless functions of tensors; :class:`iba_tf.pytorch.IBA` composes them. They reproduce the
TensorFlow port's numbers: the blur uses the matrices of :mod:`iba_tf.smoothing`, the optimiser
the update of ``tf.train.AdamOptimizer``.
"""
import functools
import math

import torch

from ..smoothing import smoothing_matrix

__all__ = ["blur", "capacity_per_neuron"]


@functools.lru_cache(maxsize=64)
def _smoothing_matrix(size, sigma):
    return smoothing_matrix(size, sigma)


def blur(x, sigma):
    """Gaussian-blurs every axis of ``x`` but the first with std ``sigma`` (reflect padding).

    ``x`` has alpha's shape ``(c, *spatial)``: each channel is blurred over its spatial axes.
    Each axis is one product with :func:`iba_tf.smoothing.smoothing_matrix` (the matrices of the
    TensorFlow port), so the blur is differentiable and works for any map size. ``sigma`` of 0
    or None returns ``x``.

    Args:
        x (torch.Tensor): ``(c, *spatial)``, e.g. ``(c, h, w)``.
        sigma (float): the kernel's std in pixels of the feature map.

    Returns:
        torch.Tensor: the blurred ``x``, same shape.
    """
    if not sigma:
        return x
    for axis in range(1, x.ndim):
        matrix = torch.as_tensor(_smoothing_matrix(x.shape[axis], float(sigma)),
                                 dtype=x.dtype, device=x.device)
        # out[..., i, ...] = sum_j matrix[i, j] * x[..., j, ...]
        x = torch.movedim(torch.movedim(x, axis, -1) @ matrix.T, -1, axis)
    return x


def capacity_per_neuron(lam, one_minus_lam, normalized_feature):
    """The KL divergence (nats) of ``N(lam * r, (1 - lam)^2)`` from ``N(0, 1)``, per neuron.

    ``one_minus_lam`` is passed separately (the blurred ``sigmoid(-alpha)``) so that
    ``log(1 - lam)`` stays accurate where ``lam`` rounds to 1; it is clamped to the smallest
    normal float before the log, so the result is finite.
    """
    tiny = torch.finfo(one_minus_lam.dtype).tiny
    log_one_minus_lam = torch.log(torch.clamp(one_minus_lam, min=tiny))
    return -0.5 * (1. + 2. * log_one_minus_lam - (lam * normalized_feature) ** 2
                   - one_minus_lam ** 2)


def adam_step(param, grad, state, lr, beta1=0.9, beta2=0.999, epsilon=1e-8):
    """One Adam step in place, the update of ``tf.train.AdamOptimizer`` (and the TF port).

    It differs from ``torch.optim.Adam`` only in where epsilon enters (``sqrt(v_t) + eps``
    with the bias correction folded into the step size).

    Args:
        param (torch.Tensor): updated in place.
        grad (torch.Tensor): the gradient of the loss with respect to ``param``.
        state (dict): ``t`` (steps so far), ``m`` and ``v`` (moment tensors), updated in place.
        lr (float): the learning rate.
    """
    state["t"] += 1
    t = state["t"]
    state["m"].mul_(beta1).add_(grad, alpha=1 - beta1)
    state["v"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    step_size = lr * math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
    param.sub_(step_size * state["m"] / (state["v"].sqrt() + epsilon))
