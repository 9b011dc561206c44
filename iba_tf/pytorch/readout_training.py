"""The training loop of the PyTorch IBAReadout: epochs, progress bar and the NaN guard.

Only the readout network learns, with the Adam update of the TensorFlow port
(:func:`.ops.adam_step`); gradients are taken with ``torch.autograd.grad`` for the readout's
parameters only, so the model's weights and their ``.grad`` stay untouched.
"""
import itertools

import torch
import torch.nn.functional as F

from ..utils import get_tqdm
from .ops import adam_step

__all__ = ["train", "objective", "split_batch"]

LOSSES = ("loss", "model_loss", "information_loss")


def split_batch(batch, device):
    """Returns ``(x, y or None)`` of a batch ``x``, ``(x,)`` or ``(x, y)``, on ``device``."""
    parts = list(batch) if isinstance(batch, (tuple, list)) else [batch]
    x = parts[0]
    if not torch.is_tensor(x) or x.ndim < 2:
        raise ValueError("IBAReadout.train: batches must be an input tensor (n, ...) or a tuple "
                         "(x, y); got {}.".format(tuple(x.shape) if torch.is_tensor(x)
                                                  else type(x).__name__))
    y = parts[1] if len(parts) > 1 else None
    if y is not None:
        y = torch.as_tensor(y)
        if y.ndim == 2:
            y = y.argmax(1)
        if y.ndim != 1 or len(y) != len(x) or y.is_floating_point():
            raise ValueError("IBAReadout.train: the labels have shape {} ({}) for {} inputs; "
                             "give class indices (n,) or one-hot rows (n, classes)."
                             .format(tuple(y.shape), y.dtype, len(x)))
        y = y.to(device) if device is not None else y
    return (x.to(device) if device is not None else x), y


def objective(readout, model, x, y):
    """``(loss, model_loss, information_loss)`` of one batch; ``y`` None: the prediction."""
    logits, _, alpha = readout.nested_pass(model, x)
    if logits.ndim != 2:
        raise ValueError("IBAReadout: the model outputs shape {}; it must output the logits "
                         "(n, classes).".format(tuple(logits.shape)))
    if y is None:
        y = logits.argmax(1)
    with torch.enable_grad():
        output = readout.restricted_pass(model, x, alpha)
        model_loss = F.cross_entropy(output, y)
        information = readout._capacity.mean()
        return model_loss + readout.beta * information, model_loss, information


def train(readout, model, dataloader, epochs, steps_per_epoch, device, progbar):
    """Runs :meth:`IBAReadout.train`; see there."""
    network = readout._network()
    readout.readout_statistics()       # raises before any step if estimate was not called
    if device is None:
        parameter = next(iter(model.parameters()), None)
        device = None if parameter is None else parameter.device
    params = list(network.parameters())
    states = [dict(t=0, m=torch.zeros_like(p), v=torch.zeros_like(p)) for p in params]
    history = []
    for epoch in range(epochs):
        totals, done = dict.fromkeys(LOSSES, 0.), 0
        with get_tqdm()(total=steps_per_epoch, disable=not progbar, unit="batch",
                        desc="Epoch {}/{}".format(epoch + 1, epochs)) as bar:
            for batch in itertools.islice(dataloader, steps_per_epoch):
                x, y = split_batch(batch, device)
                losses = _step(readout, model, x, y, params, states, (epoch, done))
                readout.steps_trained += 1
                done += 1
                for name, value in zip(LOSSES, losses):
                    totals[name] += value
                bar.set_postfix({name: totals[name] / done for name in LOSSES})
                bar.update(1)
        if not done:
            raise ValueError("IBAReadout.train: the dataloader yielded no batch in epoch {}."
                             .format(epoch + 1))
        history.append({name: totals[name] / done for name in LOSSES})
    return history


def _step(readout, model, x, y, params, states, where):
    """One Adam step; on a non-finite loss or gradient nothing changes and it raises."""
    losses = objective(readout, model, x, y)
    gradients = torch.autograd.grad(losses[0], params)
    values = [float(value.detach()) for value in losses]
    finite = all(torch.isfinite(torch.tensor(values))) and all(
        bool(torch.isfinite(g).all()) for g in gradients)
    if not finite:
        raise FloatingPointError(
            "IBAReadout.train: the loss turned NaN/inf at epoch {}, step {} ({} step(s) "
            "trained in all; losses {}): training stopped and the weights of the last good "
            "step are kept. Check the data for NaN/inf values, or lower lr.".format(
                where[0] + 1, where[1] + 1, readout.steps_trained, dict(zip(LOSSES, values))))
    with torch.no_grad():
        for param, gradient, state in zip(params, gradients, states):
            adam_step(param, gradient, state, readout.lr)
    return values
