"""The training loop of IBAReadout: epochs, progress bar, validation, and the NaN guard."""
import numpy as np

from ..utils import get_tqdm
from . import readout_data

__all__ = ["train", "evaluate"]

LOSSES = ("loss", "model_loss", "information_loss")


def train(readout, data, epochs, steps_per_epoch, validation_data, validation_steps,
          progbar):
    """Runs :meth:`IBAReadout.train`; see there. The readout is configured already."""
    steps = readout_data.steps_of(data, steps_per_epoch)
    if validation_data is not None:
        validation_steps = readout_data.steps_of(validation_data, validation_steps)
    history = []
    good = readout.get_weights()
    for epoch in range(int(epochs)):
        totals = dict.fromkeys(LOSSES, 0.)
        done = 0
        with get_tqdm()(total=steps, disable=not progbar, unit="batch",
                        desc="Epoch {}/{}".format(epoch + 1, epochs)) as bar:
            for batch in readout_data.batches(data, steps):
                losses = _step(readout, batch, good, epoch, done)
                good = readout.get_weights()
                readout.steps_trained += 1
                done += 1
                for name in LOSSES:
                    totals[name] += losses[name]
                bar.set_postfix({name: totals[name] / done for name in LOSSES})
                bar.update(1)
            if not done:
                raise ValueError("The training data yielded no batch in epoch {}."
                                 .format(epoch + 1))
            record = {name: totals[name] / done for name in LOSSES}
            if validation_data is not None:
                record["val_loss"] = evaluate(readout, validation_data, validation_steps)
                bar.set_postfix(record)
        history.append(record)
    return history


def _step(readout, batch, good, epoch, step):
    """One Adam step; on a non-finite loss or weight, restores ``good`` and raises."""
    feed = readout._step_feed(batch)
    _, losses = readout.copy_session.run([readout.train_op, readout.losses], feed)
    finite = all(np.isfinite(value) for value in losses.values())
    if finite:
        finite = all(np.all(np.isfinite(w)) for w in readout.get_weights())
    if not finite:
        readout.set_weights(good)
        raise FloatingPointError(
            "The readout's loss turned NaN/inf at epoch {}, step {} ({} step(s) trained in "
            "all; losses {}): training stopped and the weights of the last good step are "
            "kept. Check the data for NaN/inf values, or lower learning_rate.".format(
                epoch + 1, step + 1, readout.steps_trained,
                {name: float(value) for name, value in losses.items()}))
    return {name: float(value) for name, value in losses.items()}


def evaluate(readout, data, steps):
    """The mean loss over ``steps`` batches of ``data`` (no training)."""
    values = [readout.copy_session.run(readout.losses["loss"], readout._step_feed(batch))
              for batch in readout_data.batches(data, steps)]
    if not values:
        raise ValueError("The validation data yielded no batch.")
    return float(np.mean(values))
