"""Localisation checks for data where the relevant region is known (boxes or masks).

- :func:`mass_inside`: the share of the positive attribution mass that falls inside the mask
  ("relevance mass accuracy", Arras et al. 2022).
- :func:`pointing_game`: is the most relevant pixel inside (Zhang et al. 2016)?
- :func:`bbox_test`: the IBA paper's bounding-box test: of the ``n`` highest-scoring pixels,
  ``n`` being the box's size in pixels, the fraction that lies inside the box.

All take maps ``(N, H, W)`` (see :func:`iba_tf.evaluation.to_maps`) and boolean masks of the same
shape; :func:`boxes_to_masks` turns boxes into masks. :func:`localisation_test` runs all three
for an analyzer.

Example:
    >>> masks = boxes_to_masks([(8, 8, 20, 20)] * len(x), x.shape[1:3])
    >>> result = localisation_test(x, masks, analyzer=analyzer, targets=y)
    >>> result.summary()
"""
from dataclasses import dataclass, field

import numpy as np
import scipy.ndimage

from .common import explain, to_maps

__all__ = ["boxes_to_masks", "mass_inside", "pointing_game", "bbox_test", "localisation_test",
           "LocalisationResult"]


def boxes_to_masks(boxes, shape):
    """Returns boolean masks ``(N, H, W)`` for boxes ``(top, left, bottom, right)`` in pixels.

    ``bottom`` and ``right`` are exclusive, as in slicing: ``mask[top:bottom, left:right]``.
    """
    shape = tuple(int(s) for s in shape)
    boxes = np.asarray(boxes, dtype=int).reshape(-1, 4)
    masks = np.zeros((len(boxes),) + shape, dtype=bool)
    for mask, (top, left, bottom, right) in zip(masks, boxes):
        if not (0 <= top < bottom <= shape[0] and 0 <= left < right <= shape[1]):
            raise ValueError("The box (top={}, left={}, bottom={}, right={}) is empty or leaves "
                             "the image of shape {}.".format(top, left, bottom, right, shape))
        mask[top:bottom, left:right] = True
    return masks


def _check(maps, masks):
    maps = np.asarray(maps, dtype=np.float64)
    masks = np.asarray(masks, dtype=bool)
    if maps.ndim != 3 or maps.shape != masks.shape:
        raise ValueError("maps (N, H, W) and masks must have the same shape; got {} and {}."
                         .format(maps.shape, masks.shape))
    empty = [i for i, mask in enumerate(masks) if not mask.any()]
    if empty:
        raise ValueError("The masks of samples {} are empty.".format(empty))
    return maps, masks


def mass_inside(maps, masks):
    """Share of each map's positive mass inside its mask, ``(N,)`` in ``[0, 1]``.

    Negative values are clipped to 0 first (they speak against the class); a map without
    positive mass gets NaN.
    """
    maps, masks = _check(maps, masks)
    positive = np.clip(maps, 0, None)
    total = positive.sum(axis=(1, 2))
    inside = (positive * masks).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / np.where(total > 0, total, 1), np.nan)


def pointing_game(maps, masks, tolerance=0):
    """Whether each map's maximum lies inside its mask, ``(N,)`` in ``[0, 1]``.

    Where several pixels share the maximum, the result is the share of them inside (a
    constant map scores the mask's share of the image, not a sure hit).

    Args:
        tolerance (int): grow the masks by this many pixels first (Zhang et al. use 15 px on
            ImageNet-sized images).
    """
    maps, masks = _check(maps, masks)
    if tolerance:
        masks = np.stack([scipy.ndimage.binary_dilation(m, iterations=int(tolerance))
                          for m in masks])
    peaks = maps == maps.max(axis=(1, 2), keepdims=True)
    return (peaks & masks).sum(axis=(1, 2)) / peaks.sum(axis=(1, 2)).astype(np.float64)


def bbox_test(maps, masks, seed=0):
    """The IBA paper's bounding-box test, ``(N,)`` in ``[0, 1]``.

    For each sample with a mask of ``n`` pixels: the fraction of its ``n`` highest-scoring
    pixels that lie inside the mask. Ties at the threshold are broken at random (seeded), so
    a constant map scores about the mask's share of the image.
    """
    maps, masks = _check(maps, masks)
    rng = np.random.RandomState(seed)
    result = np.empty(len(maps))
    for i, (m, mask) in enumerate(zip(maps, masks)):
        n = int(mask.sum())
        order = np.lexsort((rng.rand(m.size), -m.reshape(-1)))
        result[i] = mask.reshape(-1)[order[:n]].mean()
    return result


@dataclass
class LocalisationResult:
    """The outcome of :func:`localisation_test`: per-sample arrays and their means."""
    mass_inside: np.ndarray
    pointing_game: np.ndarray
    bbox: np.ndarray
    maps: np.ndarray = field(default=None, repr=False)

    def summary(self):
        """Returns the means (NaN-free samples) as a dict."""
        return dict(mass_inside=float(np.nanmean(self.mass_inside)),
                    pointing_game=float(np.mean(self.pointing_game)),
                    bbox=float(np.mean(self.bbox)), samples=len(self.bbox))


def localisation_test(X, masks, analyzer=None, attributions=None, targets=None, reduce="sum",
                      absolute=False, tolerance=0):
    """Runs the three localisation checks for an analyzer (or given attributions).

    Args:
        X (np.ndarray): images ``(N, H, W, C)``.
        masks (np.ndarray): boolean ``(N, H, W)``: where the evidence is (see
            :func:`boxes_to_masks`).
        analyzer: any analyzer with innvestigate's API; or ``attributions``.
        targets (np.ndarray): class per sample (needed by analyzers in ``"index"`` mode).
        reduce (str): how attributions become maps (see ``absolute``).
        absolute (bool): how attributions become maps (:func:`to_maps`).
        tolerance (int): the pointing game's tolerance in pixels.

    Returns:
        LocalisationResult
    """
    X = np.asarray(X, dtype=np.float32)
    if (analyzer is None) == (attributions is None):
        raise ValueError("Give either an analyzer or attributions (exactly one of them).")
    if attributions is None:
        attributions = explain(analyzer, X, targets)
    maps = to_maps(attributions, X.shape, reduce, absolute)
    return LocalisationResult(mass_inside(maps, masks), pointing_game(maps, masks, tolerance),
                              bbox_test(maps, masks), maps)
