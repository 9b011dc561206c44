"""The Readout Bottleneck's rows of ``attribution_quality.py``: readouts never trained on what
they explain.

- MNIST: one readout trained on training digits with their labels; the evaluated digits are
  test digits.
- fer: the 102 offline faces are all evaluated, so they are split into folds and every face is
  explained by the readout of its fold, trained on every face outside the fold and their
  mirror images, for the model's predicted emotions (cross-fitting, :class:`CrossFitted`).

The readout is :class:`iba_tf.IBAReadout` with its defaults (beta 10, learning rate 1e-2), attached
where the Per-Sample rows put the bottleneck, reading the layers of :data:`READOUT_LAYERS` and
the logits, as in ``benchmarks/readout_speed.py``.
"""
import time

import numpy as np

# besides the attach layer and the logits
READOUT_LAYERS = {"mnist": ["conv1", "conv2", "conv3"], "fer": ["add_2", "add_3", "add_4"]}


def readout_layers(model, task, layer):
    """The attach layer, the task's readout layers and the logits layer, each once."""
    return list(dict.fromkeys([layer] + READOUT_LAYERS[task] + [model.layers[-1].name]))


def train_readout(model, layer, layers, x, y, epochs):
    """An ``IBAReadoutInnvestigate`` with statistics of ``x``, trained on ``(x, y)``.

    ``y`` None: trained for the model's own predictions.
    """
    from iba_tf.tensorflow_v1.innvestigate_readout import IBAReadoutInnvestigate
    analyzer = IBAReadoutInnvestigate(model, attach_layer=layer, readout_layers=layers)
    analyzer.fit(x, y, epochs=epochs, n_samples=len(x))
    return analyzer


class CrossFitted:
    """Explains every image with the readout of its fold, which was trained without that fold.

    Args:
        folds (list): ``(images, analyzer)`` per fold; images are recognised by their bytes.
        seconds (float): what building and training all folds took.
    """

    def __init__(self, folds, seconds):
        self._fold_of = {}
        self.analyzers = []
        for k, (images, analyzer) in enumerate(folds):
            self._fold_of.update((image.tobytes(), k) for image in np.asarray(images, np.float32))
            self.analyzers.append(analyzer)
        self.training_seconds = seconds

    def analyze(self, X):
        """One map ``(H, W)`` per image of ``X``, each from the readout of its fold."""
        X = np.asarray(X, np.float32)
        unknown = [i for i, x in enumerate(X) if x.tobytes() not in self._fold_of]
        if unknown:
            raise ValueError("Images {} belong to no fold: a cross-fitted readout explains only "
                             "the images it was split on (another one may have been trained on "
                             "them).".format(unknown[:5]))
        folds = np.array([self._fold_of[x.tobytes()] for x in X])
        maps = np.zeros(X.shape[:3])
        for k, analyzer in enumerate(self.analyzers):
            rows = np.flatnonzero(folds == k)
            if len(rows):
                maps[rows] = analyzer.analyze(X[rows])
        return maps


def mnist_readout(model, layer, x_train, y_train, epochs):
    """The MNIST row's analyzer: trained on ``x_train`` with labels (``training_seconds`` set)."""
    start = time.perf_counter()
    analyzer = train_readout(model, layer, readout_layers(model, "mnist", layer), x_train,
                             y_train, epochs)
    analyzer.training_seconds = time.perf_counter() - start
    return analyzer


def fer_readout(model, layer, faces, evaluated, n_folds, epochs):
    """The fer row's analyzer: ``evaluated`` (rows of ``faces``) split into ``n_folds`` folds;
    the readout of a fold is trained on every other face of ``faces`` and its mirror image."""
    start = time.perf_counter()
    layers = readout_layers(model, "fer", layer)
    evaluated = np.asarray(evaluated)
    folds = []
    for k in range(n_folds):
        held_out = evaluated[k::n_folds]
        rest = np.setdiff1d(np.arange(len(faces)), held_out)
        train = np.concatenate([faces[rest], faces[rest][:, :, ::-1]])
        folds.append((faces[held_out], train_readout(model, layer, layers, train, None, epochs)))
    return CrossFitted(folds, time.perf_counter() - start)
