"""The two loops that drive a PyTorch bottleneck: estimating its statistics, optimising alpha.

:meth:`iba_tf.pytorch.IBA.estimate` and :meth:`iba_tf.pytorch.IBA.analyze` own the module's
state and settings; the loops over the data and over the optimisation steps live here, with
the checks of what the user passes to ``analyze`` and of what their model and loss return.
They work on the module's package-internal state (``_capacity``, ``_captured``).
"""
import contextlib

import torch

from ..utils import get_tqdm
from .ops import adam_step

__all__ = ["estimate_features", "check_analyze_arguments", "record_feature", "optimize_alpha"]

_MODES = ("saliency", "capacity")

_NOT_RUN = ("IBA.analyze: model_loss_fn did not run the bottleneck; it must evaluate the model "
            "the IBA is attached to (or inserted in).")


def estimate_features(iba, model, dataloader, device, n_samples, progbar):
    """Runs ``model`` up to ``iba`` on the batches of ``dataloader`` until ``n_samples`` were seen.

    Every feature updates ``iba.estimator``; ``device`` (or None) is where inputs are moved.
    The pass stops at the bottleneck unless ``iba._estimate_whole_model`` is set (the Readout
    Bottleneck also estimates layers after it).
    """
    start = iba.estimator.n_samples()
    with get_tqdm()(total=n_samples, disable=not progbar, desc="Estimating",
                    unit="sample") as bar, torch.no_grad():
        for batch in dataloader:
            inputs = batch[0] if isinstance(batch, (tuple, list)) else batch
            if not torch.is_tensor(inputs):
                raise TypeError("IBA.estimate: the dataloader must yield tensors or tuples "
                                "whose first item is the input tensor; got {!r}."
                                .format(type(inputs).__name__))
            if device is not None:
                inputs = inputs.to(device)
            before = iba.estimator.n_samples()
            stop = (contextlib.nullcontext() if getattr(iba, "_estimate_whole_model", False)
                    else iba.interrupt_execution())
            with iba.enable_estimation(), stop:
                model(inputs)
            if iba.estimator.n_samples() == before:
                raise RuntimeError("IBA.estimate: running the model did not pass the "
                                   "bottleneck; attach the IBA to a layer of this model "
                                   "(IBA(model.layer)) or insert it into the model.")
            seen = iba.estimator.n_samples() - start
            bar.update(min(seen, n_samples) - bar.n)
            if seen >= n_samples:
                break


def check_analyze_arguments(input_t, model_loss_fn, mode):
    """Raises if ``IBA.analyze`` got an unknown mode, not one sample, or no callable loss."""
    if mode not in _MODES:
        raise ValueError("IBA.analyze: mode must be 'saliency' or 'capacity', got {!r}."
                         .format(mode))
    if not torch.is_tensor(input_t) or input_t.ndim < 2 or input_t.shape[0] != 1:
        raise ValueError("IBA.analyze explains one sample at a time: input_t must be a tensor "
                         "with a batch axis of size 1, e.g. image[None]; got {}.".format(
                             tuple(input_t.shape) if torch.is_tensor(input_t)
                             else type(input_t).__name__))
    if not callable(model_loss_fn):
        raise TypeError("IBA.analyze: model_loss_fn must be callable (a closure mapping an "
                        "input batch to a scalar loss).")


def record_feature(iba, input_t, model_loss_fn):
    """Runs ``model_loss_fn(input_t)`` up to ``iba`` and returns the feature there."""
    iba._captured = []
    try:
        with torch.no_grad(), iba.interrupt_execution():
            model_loss_fn(input_t)
        captured = iba._captured
    finally:
        iba._captured = None
    if not captured:
        raise RuntimeError(_NOT_RUN)
    return captured[0]


def optimize_alpha(iba, alpha, batch, model_loss_fn, steps, beta, lr):
    """Minimises ``model_loss + beta * mean(capacity)`` over ``alpha`` with ``steps`` Adam steps.

    ``alpha`` (``iba.alpha``) is updated in place; ``batch`` is the copies of the input that
    ``model_loss_fn`` gets at every step. Non-finite gradient entries count as 0.
    """
    adam = dict(t=0, m=torch.zeros_like(alpha), v=torch.zeros_like(alpha))
    alpha.requires_grad_(True)
    try:
        with iba.restrict_flow(), torch.enable_grad():
            for _ in get_tqdm()(range(steps), disable=not iba.progbar, desc="IBA"):
                iba._capacity = None
                model_loss = model_loss_fn(batch)
                _check_step(iba, model_loss)
                loss = model_loss + beta * iba._capacity.mean()
                gradient, = torch.autograd.grad(loss, [alpha])
                with torch.no_grad():
                    gradient = torch.where(torch.isfinite(gradient), gradient,
                                           torch.zeros_like(gradient))
                    adam_step(alpha, gradient, adam, lr)
    finally:
        alpha.requires_grad_(False)


def _check_step(iba, model_loss):
    if iba._capacity is None:
        raise RuntimeError(_NOT_RUN)
    if not torch.is_tensor(model_loss) or model_loss.numel() != 1:
        raise ValueError("IBA.analyze: model_loss_fn must return a scalar loss tensor (e.g. "
                         "the mean over the batch); got {}.".format(
                             tuple(model_loss.shape) if torch.is_tensor(model_loss)
                             else type(model_loss).__name__))
    if not model_loss.requires_grad:
        raise ValueError("IBA.analyze: the loss of model_loss_fn does not depend on the "
                         "bottleneck; do not compute it under torch.no_grad() or detach it.")
