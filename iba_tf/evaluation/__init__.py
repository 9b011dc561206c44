"""Evaluation of attribution methods: degradation, sanity check, localisation, reports.

Every check takes an analyzer with innvestigate's calling convention (``analyze(X)`` or, in
``"index"`` mode, ``analyze(X, neuron_selection=targets)``) that returns ``X``-shaped
attributions or ``(N, H, W)`` maps: innvestigate's analyzers, :mod:`iba_tf.baselines` and
:class:`iba_tf.IBACopyInnvestigate` all go through the same code.

- :func:`degradation_test` (``iba_tf.evaluation.degradation``): MoRF / LeRF tile removal, the IBA paper's
  degradation test; returns both curves and the area between them.
- :func:`cascading_randomization` (``iba_tf.evaluation.sanity``): Adebayo et al.'s sanity check.
- :func:`localisation_test`, :func:`mass_inside`, :func:`pointing_game`, :func:`bbox_test`
  (``iba_tf.evaluation.localisation``): for data with known boxes or masks.
- :func:`plot_degradation`, :func:`plot_sanity`, :func:`markdown_table` (``iba_tf.evaluation.report``).

Example:
    >>> from iba_tf.evaluation import degradation_test, cascading_randomization
    >>> degradation_test(model, x[:50], analyzer, tile_size=4).area
    >>> cascading_randomization(model, analyzer, x[:8]).final
"""
from .common import explain, target_scores, timed_explain, to_maps
from .degradation import DegradationResult, baseline_images, degradation_test
from .localisation import (LocalisationResult, bbox_test, boxes_to_masks, localisation_test,
                           mass_inside, pointing_game)
from .report import markdown_table, plot_degradation, plot_sanity
from .sanity import SanityResult, cascading_randomization, randomize_weights

__all__ = ["explain", "timed_explain", "to_maps", "target_scores", "degradation_test",
           "DegradationResult", "baseline_images", "cascading_randomization", "SanityResult",
           "randomize_weights", "localisation_test", "LocalisationResult", "mass_inside",
           "pointing_game", "bbox_test", "boxes_to_masks", "plot_degradation", "plot_sanity",
           "markdown_table"]
