"""The sanity check by cascading weight randomisation (Adebayo et al., NeurIPS 2018).

An explanation of a model should depend on what the model learned. The check replaces the
weights layer by layer, from the output towards the input, and after each step compares the
new maps with the maps of the trained model by Spearman's rank correlation
(``scipy.stats.spearmanr``). A method that passes loses its correlation as soon as the top
layers are random; a method whose maps stay the same explains the input (edges, intensities),
not the model.

The model's weights are restored afterwards (also when an error stops the check), so nothing is
lost.

Analyzers that cache state:

- innvestigate's analyzers and :mod:`iba_tf.baselines` build their ops on the model's own
  variables: they see the new weights without any help.
- :class:`iba_tf.IBACopy` / :class:`iba_tf.IBACopyInnvestigate` copy the weights into their own
  graph when they are built: after every change the check calls their ``update_variables()``
  (and once more after restoring). Their feature statistics (mean and std at the bottleneck)
  were fitted on the trained model; with ``refit_data`` the check resets the estimator and
  fits it again on the randomised model at every step (the statistics are part of the method,
  like the patterns of PatternNet), and restores the fitted state at the end. Without
  ``refit_data`` the stale statistics are kept (say so when you report the numbers).
- Anything else: pass ``on_weights_changed=callable(analyzer)``; it is called after every
  change of the weights and after the restore.

Example:
    >>> result = cascading_randomization(model, analyzer, x_test[:10])
    >>> result.labels, result.mean_correlation
"""
import contextlib
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.stats

from ..utils import get_tqdm
from .common import default_targets, explain, to_maps

__all__ = ["cascading_randomization", "SanityResult", "randomize_weights", "weighted_layers",
           "rank_correlation", "MODES"]

MODES = ("normal", "shuffle")


@dataclass
class SanityResult:
    """The outcome of :func:`cascading_randomization`.

    Attributes:
        labels (list): the layer(s) randomised at each step (cumulative: step i has the layers
            of steps 0..i random), top layer first.
        correlations (np.ndarray): Spearman's rho between each sample's original map and its
            map after each step, ``(steps, N)``; NaN where a map is constant.
        mean_correlation (np.ndarray): the mean over the samples per step (NaN ignored).
        final (float): the mean correlation after the last step (all listed layers random);
            near 0 is what a sensitive method reaches, near 1 fails the check.
        targets (np.ndarray): the explained class per sample (fixed through the cascade).
        masked_correlations (np.ndarray): ``correlations`` computed only on the pixels inside
            the ``masks`` given to the check (None without masks).
        masked_mean_correlation (np.ndarray): ``mean_correlation`` on those pixels.
        masked_final (float): ``final`` on those pixels.
        original_maps (np.ndarray): the maps before the first step.
        final_maps (np.ndarray): the maps after the last step.
    """
    labels: list
    correlations: np.ndarray
    mean_correlation: np.ndarray
    final: float
    targets: np.ndarray
    masked_correlations: np.ndarray = None
    masked_mean_correlation: np.ndarray = None
    masked_final: float = None
    original_maps: np.ndarray = field(default=None, repr=False)
    final_maps: np.ndarray = field(default=None, repr=False)

    def summary(self):
        """Returns the scalar results as a dict."""
        return dict(final=self.final, masked_final=self.masked_final, steps=len(self.labels),
                    samples=len(self.targets))


def weighted_layers(model):
    """Returns the model's layers that hold weights, top (output side) first."""
    return [layer for layer in reversed(model.layers) if layer.weights]


def randomize_weights(values, rng, mode="normal"):
    """Returns random stand-ins for a layer's weight arrays.

    - ``"normal"``: each array is redrawn element-wise from a Gaussian with the array's own
      mean and standard deviation (an array that is constant, e.g. zero biases, keeps its
      value); arrays whose values are all >= 0 (BatchNorm's moving variance) get the absolute
      value of the draw, so they stay valid.
    - ``"shuffle"``: the elements of each array are permuted (the distribution is kept
      exactly, the learned arrangement is lost).
    """
    if mode not in MODES:
        raise ValueError("mode={!r} is invalid: use one of {}.".format(mode, MODES))
    result = []
    for value in values:
        value = np.asarray(value)
        if mode == "shuffle":
            new = rng.permutation(value.reshape(-1)).reshape(value.shape)
        else:
            new = rng.normal(value.mean(), value.std(), size=value.shape)
            if value.size and value.min() >= 0:
                new = np.abs(new)
        result.append(new.astype(value.dtype))
    return result


def rank_correlation(a, b, mask=None):
    """Spearman's rho of two maps (flattened); NaN when either is constant.

    Args:
        mask (np.ndarray): boolean, the maps' shape: only these pixels are compared.
    """
    a, b = np.ravel(a), np.ravel(b)
    if mask is not None:
        mask = np.ravel(mask).astype(bool)
        a, b = a[mask], b[mask]
    if a.size < 2:
        return float("nan")
    if np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(scipy.stats.spearmanr(a, b).correlation)


def _steps(model, layers, groups):
    from ..tensorflow_v1.compat import keras
    if layers is None:
        chosen = weighted_layers(model)
    else:
        names = [layer.name for layer in model.layers]
        missing = [name for name in layers if name not in names]
        if missing:
            raise ValueError("The model {} has no layer(s) {}; its layers with weights are: {}."
                             .format(model.name, missing, [l.name for l in weighted_layers(model)]))
        chosen = [model.get_layer(name) for name in layers]
        empty = [layer.name for layer in chosen if not layer.weights]
        if empty:
            raise ValueError("The layer(s) {} hold no weights.".format(empty))
    if not chosen:
        raise ValueError("The model {} has no layer with weights to randomise.".format(
            model.name))
    if groups is None:
        return [[layer] for layer in chosen]
    if isinstance(groups, (int, np.integer)):
        if not 1 <= groups <= len(chosen):
            raise ValueError("groups must be from 1 to {} (the layers to randomise), got {}."
                             .format(len(chosen), groups))
        return [list(part) for part in np.array_split(np.array(chosen, dtype=object), groups)]
    steps = []
    for group in groups:
        group = [group] if isinstance(group, (str, keras.layers.Layer)) else list(group)
        steps.append([model.get_layer(g) if isinstance(g, str) else g for g in group])
    return steps


def _after_change(analyzer, refit_data, on_weights_changed):
    if hasattr(analyzer, "update_variables"):
        analyzer.update_variables()
    if refit_data is not None and hasattr(analyzer, "estimator") and hasattr(analyzer, "fit"):
        analyzer.estimator.reset()
        analyzer.fit(refit_data)
    if on_weights_changed is not None:
        on_weights_changed(analyzer)


def cascading_randomization(model, analyzer, X, targets=None, layers=None, groups=None,
                            mode="normal", seed=0, reduce="sum", absolute=False,
                            refit_data=None, on_weights_changed=None, masks=None,
                            progbar=False):
    """Randomises the model's weights from the top layer down and compares the maps.

    Args:
        model (keras.Model): the model the analyzer explains (its weights are changed during
            the check and restored afterwards).
        analyzer: any analyzer with innvestigate's API (see :func:`explain`).
        X (np.ndarray): images ``(N, H, W, C)``.
        targets (np.ndarray): class per sample, kept through the cascade; None uses the trained
            model's predictions. (Analyzers in ``"max_activation"`` mode pick their own.)
        layers (list): names of the layers to randomise, in this order (top first); None: all
            layers with weights, from the output to the input.
        groups: None (one layer per step), an int (that many steps of consecutive layers), or
            a list of lists of layer names (one list per step).
        mode (str): how weights are redrawn, ``"normal"`` or ``"shuffle"``
            (:func:`randomize_weights`).
        seed (int): seed of the random weights.
        reduce (str): how attributions become maps (see ``absolute``).
        absolute (bool): how attributions become maps (see
            :func:`iba_tf.evaluation.to_maps`); Adebayo et al. report both signed and absolute
            maps.
        refit_data (np.ndarray): data to refit IBA's feature statistics on after each step.
        on_weights_changed (callable): called with the analyzer after each change.
        masks (np.ndarray): boolean ``(N, H, W)``; where given, the correlations are also
            computed on the pixels inside each sample's mask only (``masked_*`` in the result),
            e.g. the digit's pixels: on images with a constant background, every map that is
            high on the object and low elsewhere correlates, whatever the model learned.
        progbar (bool): show a progress bar over the steps.

    Returns:
        SanityResult: correlation per step and sample.

    Example:
        >>> result = cascading_randomization(model, ig, x_test[:8], groups=3)
        >>> "{:.2f}".format(result.final)
    """
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 4 or len(X) == 0:
        raise ValueError("X must be a non-empty batch of images (N, H, W, C), got shape {}."
                         .format(X.shape))
    steps = _steps(model, layers, groups)
    masks = _checked_masks(masks, X)
    targets = default_targets(model, X, targets)

    def current_maps():
        return to_maps(explain(analyzer, X, targets), X.shape, reduce, absolute)

    original = current_maps()
    with _weights_restored(model, analyzer, refit_data, on_weights_changed):
        labels, correlations, masked, maps = _cascade(
            steps, np.random.RandomState(seed), mode, analyzer, refit_data, on_weights_changed,
            current_maps, original, masks, progbar)
    return _result(labels, correlations, masked, targets, original, maps)


def _result(labels, correlations, masked, targets, original, maps):
    """The SanityResult of the cascade's correlations (``masked``: None without masks)."""
    correlations, mean = _means(correlations)
    result = SanityResult(labels=labels, correlations=correlations, mean_correlation=mean,
                          final=float(mean[-1]), targets=targets, original_maps=original,
                          final_maps=maps)
    if masked is not None:
        result.masked_correlations, result.masked_mean_correlation = _means(masked)
        result.masked_final = float(result.masked_mean_correlation[-1])
    return result


def _checked_masks(masks, X):
    if masks is None:
        return None
    masks = np.asarray(masks, dtype=bool)
    if masks.shape != X.shape[:3]:
        raise ValueError("masks must be boolean (N, H, W) = {}, got shape {}.".format(
            X.shape[:3], masks.shape))
    return masks


@contextlib.contextmanager
def _weights_restored(model, analyzer, refit_data, on_weights_changed):
    """Restores the model's weights (and a refitted analyzer's state) on leaving, also on error."""
    saved = model.get_weights()
    saved_state = analyzer.state_dict() if refit_data is not None and hasattr(
        analyzer, "state_dict") and hasattr(analyzer, "estimator") else None
    try:
        yield
    finally:
        model.set_weights(saved)
        if saved_state is not None:
            analyzer.load_state_dict(saved_state)
        _after_change(analyzer, None, on_weights_changed)


def _cascade(steps, rng, mode, analyzer, refit_data, on_weights_changed, current_maps,
             original, masks, progbar):
    """Randomises the ``steps`` in turn; returns labels, correlations, masked ones, last maps.

    The masked correlations are None without ``masks``.
    """
    correlations, labels = [], []
    masked = None if masks is None else []
    maps = original
    for group in get_tqdm()(steps, disable=not progbar, desc="Randomising", unit="step"):
        for layer in group:
            layer.set_weights(randomize_weights(layer.get_weights(), rng, mode))
        _after_change(analyzer, refit_data, on_weights_changed)
        maps = current_maps()
        correlations.append([rank_correlation(a, b) for a, b in zip(original, maps)])
        if masks is not None:
            masked.append([rank_correlation(a, b, m) for a, b, m in zip(original, maps, masks)])
        labels.append("+".join(layer.name for layer in group))
    return labels, correlations, masked, maps


def _means(correlations):
    correlations = np.array(correlations, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)          # all-NaN steps stay NaN
        mean = np.nanmean(correlations, axis=1)
    if np.isnan(correlations).any():
        warnings.warn("{} of {} maps were constant (no rank correlation, NaN); they are left out "
                      "of the means.".format(int(np.isnan(correlations).sum()),
                                             correlations.size))
    return correlations, mean
