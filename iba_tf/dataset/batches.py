"""The items of a data set (:func:`~.sources.open_source`) as batches for training.

Used by ``iba-tf train-readout``: :class:`ItemBatches` reads its items batch by batch (no
TensorFlow needed) and can be iterated once per epoch, as ``IBAReadout.train`` and
``IBAReadout.estimate`` take data.
"""
import numpy as np

from ..images import preprocess
from .errors import DatasetError
from .sources import read_item

__all__ = ["ItemBatches", "split"]


class ItemBatches:
    """Batches ``x`` or ``(x, labels)`` of some items of a source, read when asked for.

    Items that cannot be read are left out of their batch (and counted in ``unreadable``).

    Args:
        source (Source): the data set.
        indices (array): the items, in the order they are batched.
        input_shape (tuple): the model's ``(height, width, channels)``.
        resize (tuple): as :func:`~.sources.read_item` takes it.
        mode (str): the pixel scaling (:data:`iba_tf.images.PREPROCESSING`).
        batch_size (int): items per batch.
        with_labels (bool): yield ``(x, labels)``; else ``x`` only.
    """

    def __init__(self, source, indices, input_shape, resize, mode, batch_size, with_labels):
        self.source = source
        self.indices = np.asarray(indices, dtype=np.int64)
        self.input_shape = tuple(input_shape)
        self.resize = resize
        self.mode = mode
        self.batch_size = int(batch_size)
        self.with_labels = with_labels
        self.unreadable = set()

    @property
    def n_items(self):
        """The number of items (readable or not)."""
        return len(self.indices)

    def __len__(self):
        return -(-len(self.indices) // self.batch_size)

    def __getitem__(self, position):
        if not 0 <= position < len(self):
            raise IndexError(position)
        start = position * self.batch_size
        items = self.source.items(self.indices[start:start + self.batch_size])
        images, labels = [], []
        for item in items:
            try:
                images.append(read_item(item, self.input_shape, self.resize))
            except (OSError, ValueError):
                self.unreadable.add(item.key)
                continue
            labels.append(item.label)
        if not images:
            raise DatasetError("none of the items {} to {} of {} can be read (e.g. {}); check "
                               "the data".format(start, start + len(items) - 1,
                                                 self.source.path, items[0].key))
        x = preprocess(np.stack(images), self.mode)
        return (x, np.asarray(labels, dtype=np.int64)) if self.with_labels else x

    def __iter__(self):
        return (self[i] for i in range(len(self)))


def split(source, input_shape, resize, mode, batch_size, with_labels, validation_split,
          fit_samples, seed):
    """Shuffles the items and returns ``(train, validation or None, estimate)`` batches.

    ``estimate`` holds up to ``fit_samples`` of the training items (for the statistics).
    """
    order = np.random.RandomState(seed).permutation(len(source))
    n_validation = int(round(len(order) * validation_split))
    if validation_split and not 0 < n_validation < len(order):
        raise DatasetError("--validation-split {} leaves {} of {} items for validation; it "
                           "must leave at least one for each side".format(
                               validation_split, n_validation, len(order)))
    train_indices = order[:len(order) - n_validation]

    def batches(indices, labels):
        return ItemBatches(source, indices, input_shape, resize, mode, batch_size, labels)
    validation = batches(order[len(train_indices):], with_labels) if n_validation else None
    return (batches(train_indices, with_labels), validation,
            batches(train_indices[:fit_samples], False))
