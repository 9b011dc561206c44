"""The degradation test of the IBA paper (Schulz et al., ICLR 2020, Sec. 4).

The image is cut into square tiles; the tiles are ranked by their summed attribution and
replaced, one after the other, by a baseline (a blurred copy of the image by default):

- MoRF (most relevant first): a good attribution makes the target score drop fast.
- LeRF (least relevant first): a good attribution keeps the score up for long.

The test records the model's score of the target class after each step and reports the area
between the LeRF and the MoRF curve (larger is better; a random ranking gives about 0).

Normalisation: the raw scores are averaged over the samples first, then scaled so that the
unchanged images score 1 and the fully replaced images (every tile swapped, the same image for
both orders) score 0: ``(mean_score(k) - mean_score(all)) / (mean_score(none) - mean_score(all))``.
Both curves therefore run from 1 to 0 over the fraction of tiles replaced, and the areas are
comparable between methods on the same model and data. (Averaging first avoids dividing by the
tiny score range of single samples whose score hardly changes.)

Nothing is taken from innvestigate's perturbation tools (``innvestigate.tools.perturbate``),
whose interface differs between innvestigate 1.0.9 and 2; what differs here from them:

- the tiling (tile sums, tile masks to pixels): a reshape in numpy (:func:`_tile_sums`,
  :func:`_tiles_to_pixels`); its padding (``Perturbation.pad``) asserts when only one of the
  two axes needs padding (it pads the other by a whole tile); here both axes are padded with
  zeros to a multiple of the tile size, centred as innvestigate does.
- its ranking (``compute_region_ordering``): it breaks ties by position, and ties are common
  (zero gradients behind ReLUs, tiles where IBA passes no bits); a tie-break by position would
  bias both curves towards one corner of the image. Here ties are broken at random (seeded).
- its replacement (``perturbate_regions``): its perturbation function sees only the tile's own
  values, so "the blurred image at this tile" cannot be expressed; here the tile mask blends
  the image with a baseline image.
- :class:`innvestigate.tools.PerturbationAnalysis`: it scores the perturbed data with
  ``model.evaluate`` (loss and accuracy of a compiled model over a generator) and only in MoRF
  order, not the target score per sample and step that the IBA paper's test needs.

Example:
    >>> result = degradation_test(model, x_test[:50], analyzer, tile_size=4)
    >>> result.area, result.morf[:3]
"""
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.ndimage

from ..utils import get_tqdm
from ..checks import check_finite
from .common import default_targets, explain, target_scores, to_maps

__all__ = ["degradation_test", "DegradationResult", "baseline_images", "tile_ranks",
           "tile_masks", "BASELINES"]

BASELINES = ("blur", "mean", "zero")


@dataclass
class DegradationResult:
    """The outcome of :func:`degradation_test`.

    Attributes:
        fractions (np.ndarray): share of the tiles replaced at each step, from 0 to 1.
        morf (np.ndarray): the normalised mean MoRF curve (1 at the start, 0 at the end).
        lerf (np.ndarray): the normalised mean LeRF curve.
        area (float): the area between the curves, ``trapz(lerf - morf, fractions)``; larger
            is better, about 0 for a random ranking, at most 1.
        area_sem (float): standard error of ``area`` over the samples.
        sample_areas (np.ndarray): each sample's area between its raw curves, scaled with the
            common normalisation; their mean is ``area``. Subtract two methods' sample areas
            (same images, same order) for a paired comparison.
        morf_area (float): the area under the MoRF curve (smaller is better).
        lerf_area (float): the area under the LeRF curve (larger is better).
        morf_scores (np.ndarray): raw MoRF scores per sample and step ``(N, steps)``.
        lerf_scores (np.ndarray): raw LeRF scores per sample and step ``(N, steps)``.
        targets (np.ndarray): the explained class per sample.
        tile_size (int): the tile size setting.
        baseline (str): the baseline setting.
        score (str): the score setting.
    """
    fractions: np.ndarray
    morf: np.ndarray
    lerf: np.ndarray
    area: float
    area_sem: float
    sample_areas: np.ndarray
    morf_area: float
    lerf_area: float
    morf_scores: np.ndarray
    lerf_scores: np.ndarray
    targets: np.ndarray
    tile_size: int
    baseline: str
    score: str
    maps: np.ndarray = field(default=None, repr=False)

    def summary(self):
        """Returns the scalar results as a dict."""
        return dict(area=self.area, area_sem=self.area_sem, morf_area=self.morf_area,
                    lerf_area=self.lerf_area, tile_size=self.tile_size, baseline=self.baseline,
                    score=self.score, samples=len(self.targets))


def baseline_images(X, baseline="blur", blur_sigma=None, tile_size=8):
    """Returns the images the tiles are taken from when they are "removed", ``X.shape``.

    Args:
        X (np.ndarray): images ``(N, H, W, C)``.
        baseline: ``"blur"``: ``scipy.ndimage.gaussian_filter`` over the spatial axes with
            ``blur_sigma`` pixels (default ``tile_size / 2``); ``"mean"``: each image's
            per-channel mean; ``"zero"``: zeros; a callable ``X -> images``; or an array that
            broadcasts to ``X.shape``.
        blur_sigma (float): the blur's standard deviation in pixels.
        tile_size (int): used for the default ``blur_sigma``.
    """
    X = np.asarray(X, dtype=np.float32)
    if callable(baseline):
        result = np.asarray(baseline(X), dtype=np.float32)
    elif isinstance(baseline, str):
        if baseline == "blur":
            sigma = tile_size / 2. if blur_sigma is None else float(blur_sigma)
            if sigma <= 0:
                raise ValueError("blur_sigma must be > 0, got {!r}.".format(blur_sigma))
            result = scipy.ndimage.gaussian_filter(X, sigma=(0, sigma, sigma, 0),
                                                   mode="reflect")
        elif baseline == "mean":
            result = np.broadcast_to(X.mean(axis=(1, 2), keepdims=True), X.shape)
        elif baseline == "zero":
            result = np.zeros_like(X)
        else:
            raise ValueError("baseline={!r} is invalid: use one of {}, a callable or an array."
                             .format(baseline, BASELINES))
    else:
        result = np.asarray(baseline, dtype=np.float32)
    try:
        return np.broadcast_to(result, X.shape)
    except ValueError:
        raise ValueError("The baseline has shape {}, which does not broadcast to the images' "
                         "shape {}.".format(result.shape, X.shape)) from None


def _tile_sums(padded, tile_size):
    """Sums ``(N, H, W)`` (multiples of ``tile_size``) over tiles: ``(N, rows, cols)``."""
    n, height, width = padded.shape
    return padded.reshape(n, height // tile_size, tile_size, width // tile_size,
                          tile_size).sum(axis=(2, 4))


def _tiles_to_pixels(tiles, tile_size):
    """Repeats each tile value of ``(N, rows, cols)`` over its pixels: ``(N, H, W)``."""
    return np.repeat(np.repeat(tiles, tile_size, axis=1), tile_size, axis=2)


def _pad(maps, tile_size):
    """Pads ``(N, H, W)`` with zeros to multiples of ``tile_size``, centred."""
    pads = [(-size) % tile_size for size in maps.shape[1:]]
    return np.pad(maps, [(0, 0)] + [(p // 2, p - p // 2) for p in pads], mode="constant")


def _check_tile_size(tile_size, shape):
    if not isinstance(tile_size, (int, np.integer)) or tile_size < 1:
        raise ValueError("tile_size must be an int >= 1, got {!r}.".format(tile_size))
    if tile_size > min(shape):
        raise ValueError("tile_size {} is larger than the images ({}x{}).".format(
            tile_size, *shape))


def tile_ranks(maps, tile_size, order="morf", seed=0):
    """Ranks the tiles of each map by their summed attribution; 0 is replaced first.

    Args:
        maps (np.ndarray): ``(N, H, W)``. Sizes that are not multiples of ``tile_size`` get
            smaller tiles at the border (zero padding, centred).
        tile_size (int): tile height and width in pixels.
        order (str): ``"morf"`` (largest sum first) or ``"lerf"`` (smallest first).
        seed (int): seed of the random tie-break.

    Returns:
        np.ndarray: ranks ``(N, rows, cols)`` of the tiles.
    """
    maps = np.asarray(maps, dtype=np.float64)
    _check_tile_size(tile_size, maps.shape[1:])
    if order not in ("morf", "lerf"):
        raise ValueError("order must be 'morf' or 'lerf', got {!r}.".format(order))
    # "constant" padding adds zeros: a partial tile at the border sums what lies in the image
    sums = _tile_sums(_pad(maps, tile_size), tile_size)               # (N, rows, cols)
    flat = sums.reshape(len(maps), -1)
    tie_break = np.random.RandomState(seed).rand(*flat.shape)
    key = -flat if order == "morf" else flat
    # lexsort: the last key is the primary one
    ordering = np.lexsort((tie_break, key), axis=-1)
    ranks = np.empty_like(ordering)
    np.put_along_axis(ranks, ordering, np.arange(flat.shape[1])[None].repeat(len(flat), 0),
                      axis=-1)
    return ranks.reshape(sums.shape)


def tile_masks(ranks, n_replaced, tile_size, image_shape):
    """Returns the pixel masks ``(N, H, W)`` of the ``n_replaced`` first tiles of ``ranks``."""
    pixels = _tiles_to_pixels(ranks < n_replaced, tile_size)          # (N, rows*t, cols*t)
    rows, cols = pixels.shape[1:]
    # the padding is centred (see _pad): crop it the same way
    top = (rows - image_shape[0]) // 2
    left = (cols - image_shape[1]) // 2
    return pixels[:, top:top + image_shape[0], left:left + image_shape[1]]


def _normalise(curve, start, end):
    return (curve - end) / (start - end)


def degradation_test(model, X, analyzer=None, attributions=None, targets=None, tile_size=8,
                     baseline="blur", blur_sigma=None, score="logit", steps=None, reduce="sum",
                     absolute=False, seed=0, batch_size=256, progbar=False):
    """Runs the MoRF and LeRF degradation of the IBA paper on a batch of images.

    Args:
        model: the keras Model (logits output) or a callable ``X -> outputs``.
        X (np.ndarray): images ``(N, H, W, C)``.
        analyzer: any analyzer with innvestigate's API (see :func:`explain`); or give
            ``attributions`` computed before.
        attributions (np.ndarray): ``X``-shaped or ``(N, H, W)``, instead of ``analyzer``.
        targets (np.ndarray): class per sample; None uses the model's predictions.
        tile_size (int): tile height and width in pixels (the paper: 8 px on 224 px images;
            here e.g. 4 px on 28 px digits, 8 px on 64 px faces).
        baseline: what replaces a tile: ``"blur"`` (default, the paper's), ``"mean"``,
            ``"zero"``, a callable or an array; see :func:`baseline_images`.
        blur_sigma (float): blur in pixels for ``baseline="blur"``; default ``tile_size / 2``.
        score (str): ``"logit"`` (default) or ``"probability"`` (softmax of the outputs).
        steps (int): evaluation points after the start; None replaces one tile per step.
        reduce (str): how channels are combined into the map (``"sum"``, ``"mean"``, ``"max"``).
        absolute (bool): rank by the absolute attribution (for plain gradients).
        seed (int): seed of the tie-break between tiles of equal attribution.
        batch_size (int): images per ``predict`` call.
        progbar (bool): show a progress bar over the steps.

    Returns:
        DegradationResult: the curves and the area between them.

    Example:
        >>> result = degradation_test(model, faces, analyzer=ig, tile_size=8, baseline="blur")
        >>> print("area {:.3f} (MoRF {:.3f}, LeRF {:.3f})".format(
        ...     result.area, result.morf_area, result.lerf_area))
    """
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 4 or len(X) == 0:
        raise ValueError("X must be a non-empty batch of images (N, H, W, C), got shape {}."
                         .format(X.shape))
    check_finite(X, "X", "replace or drop the non-finite images")
    _check_tile_size(tile_size, X.shape[1:3])
    if (analyzer is None) == (attributions is None):
        raise ValueError("Give either an analyzer or attributions (exactly one of them).")
    targets = default_targets(model, X, targets, batch_size)
    if attributions is None:
        attributions = explain(analyzer, X, targets)
    maps = to_maps(attributions, X.shape, reduce, absolute)
    replaced = baseline_images(X, baseline, blur_sigma, tile_size)
    ranks = {order: tile_ranks(maps, tile_size, order, seed) for order in ("morf", "lerf")}
    n_tiles = ranks["morf"][0].size
    counts = _replaced_counts(n_tiles, steps)
    scores = _scores(model, X, replaced, ranks, counts, tile_size, targets, score, batch_size,
                     progbar)
    settings = dict(targets=targets, tile_size=int(tile_size), baseline=_name(baseline),
                    score=score, maps=maps)
    return _result(counts / float(n_tiles), scores, settings)


def _replaced_counts(n_tiles, steps):
    """How many tiles are replaced at each evaluation point, from 0 to ``n_tiles``."""
    if steps is None:
        return np.arange(n_tiles + 1)
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError("steps must be None or an int >= 1, got {!r}.".format(steps))
    return np.unique(np.round(np.linspace(0, n_tiles, min(steps, n_tiles) + 1)).astype(int))


def _scores(model, X, replaced, ranks, counts, tile_size, targets, score, batch_size, progbar):
    """The target scores ``(N, len(counts))`` per order, tiles of ``X`` taken from ``replaced``."""
    scores = {order: np.empty((len(X), len(counts))) for order in ranks}
    with get_tqdm()(total=2 * len(counts), disable=not progbar, desc="Degradation",
                    unit="step") as bar:
        for j, count in enumerate(counts):
            for order in ("morf", "lerf"):
                mask = tile_masks(ranks[order], count, tile_size, X.shape[1:3])[..., None]
                scores[order][:, j] = target_scores(model, np.where(mask, replaced, X), targets,
                                                    score, batch_size)
                bar.update(1)
    return scores


def _result(fractions, scores, settings):
    """The normalised curves and their areas (NaN, with a warning, where they cannot be)."""
    mean_morf, mean_lerf = scores["morf"].mean(0), scores["lerf"].mean(0)
    start, end = mean_morf[0], mean_morf[-1]
    if not abs(start - end) > 1e-12 * max(1., abs(start)):
        warnings.warn("The mean target score does not change when every tile is replaced "
                      "({:.4g}); the curves cannot be normalised (NaN). Choose another "
                      "baseline.".format(start))
        nan = float("nan")
        return DegradationResult(
            fractions=fractions, morf=np.full_like(fractions, nan),
            lerf=np.full_like(fractions, nan), area=nan, area_sem=nan,
            sample_areas=np.full(len(scores["morf"]), nan), morf_area=nan, lerf_area=nan,
            morf_scores=scores["morf"], lerf_scores=scores["lerf"], **settings)
    morf = _normalise(mean_morf, start, end)
    lerf = _normalise(mean_lerf, start, end)
    per_sample = np.trapz((scores["lerf"] - scores["morf"]) / (start - end), fractions, axis=1)
    n = len(per_sample)
    sem = float(per_sample.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return DegradationResult(
        fractions=fractions, morf=morf, lerf=lerf, area=float(np.trapz(lerf - morf, fractions)),
        area_sem=sem, sample_areas=per_sample, morf_area=float(np.trapz(morf, fractions)),
        lerf_area=float(np.trapz(lerf, fractions)), morf_scores=scores["morf"],
        lerf_scores=scores["lerf"], **settings)


def _name(baseline):
    if isinstance(baseline, str):
        return baseline
    return getattr(baseline, "__name__", type(baseline).__name__)
