"""Runs the optimisation of a bottleneck's objective in a session, and records the report."""
import collections

import numpy as np

from ..checks import check_targets
from ..smoothing import smoothing_matrix
from ..utils import get_tqdm
from .cond_folding import assumption_holds

__all__ = ["Optimization", "targets_feed"]


class Optimization:
    """One analysis: feeds, the step loop and the report.

    Args:
        bottleneck (Bottleneck): the engine.
        objective (Objective): the objective to minimise.
        settings (dict): the merged hyperparameters of this call.
        statistics (tuple): (mean, std, active) float32 arrays of the feature's shape.
        pass_mask (np.ndarray): feature-shaped; 1 marks neurons that always pass; None: none.
    """

    def __init__(self, bottleneck, objective, settings, statistics, pass_mask=None):
        self.bottleneck = bottleneck
        self.objective = objective
        self.settings = settings
        shape = bottleneck.feature_shape
        if pass_mask is None:
            pass_mask = np.zeros(shape, np.float32)
        elif np.shape(pass_mask) != shape:
            raise ValueError("pass_mask has shape {}, expected the feature shape {}."
                             .format(np.shape(pass_mask), shape))
        values = list(statistics) + [np.asarray(pass_mask, np.float32), settings["min_std"]]
        values += [smoothing_matrix(size, settings["smooth_std"]) for size in shape[:-1]]
        self._configuration = dict(zip(bottleneck.configuration.values(), values))

    def run(self, session, feature, feed_dict, collected=(), progbar=False, repeated=None,
            loop=None):
        """Optimises alpha for the feature value(s) and returns (capacity, report).

        Args:
            session: the session holding the bottleneck.
            feature (np.ndarray): the feature value(s) ``(n, *feature_shape)``; fed at the
                application's input, so the model before the bottleneck never reruns.
            feed_dict (dict): whatever else the loss needs (other inputs, the target as
                :func:`targets_feed` returns it).
            collected: names of report variables to record at every step.
            progbar (bool): show a progress bar over the steps (runs step by step).
            repeated (dict): tensors with one row per sample -> values, fed with each row
                repeated once per noise sample.
            loop (OptimizationLoop): runs all steps in one session call; None: step by step
                (also where ``feed_dict`` feeds a placeholder the loop's folded conditionals
                assumed at its default, such as the learning phase 1).

        Returns:
            (np.ndarray, OrderedDict or None): the capacity ``(n, *feature_shape)`` after the
            last step, and the report (None when nothing is collected).
        """
        bottleneck, settings = self.bottleneck, self.settings
        n_explained = feature.shape[0]
        feed_dict = dict(feed_dict)
        for tensor, value in (repeated or {}).items():
            batched = np.ndim(value) > 0 and np.shape(value)[0] == n_explained
            feed_dict[tensor] = np.repeat(value, settings["batch_size"], 0) if batched else value
        n_neurons = float(np.prod(bottleneck.feature_shape))
        feed_dict.update({
            self.objective.application.inputs: feature,
            bottleneck.analyzing: True,
            bottleneck.noise_samples: settings["batch_size"],
            bottleneck.beta: settings["beta"],
            bottleneck.learning_rate: settings["learning_rate"],
            bottleneck.information_scale: 1. / n_neurons if settings["normalize_beta"] else 1.,
        })
        if loop is not None and not progbar and assumption_holds(loop.assumed, feed_dict):
            feed_dict.update(self._configuration)
            return loop.run(session, feed_dict, settings["steps"])
        return self._step_by_step(session, n_explained, feed_dict, collected, progbar)

    def _step_by_step(self, session, n_explained, feed_dict, collected, progbar):
        """One ``session.run`` per step (and one to configure, one for the result)."""
        bottleneck, objective = self.bottleneck, self.objective
        configure = dict(self._configuration)
        configure[bottleneck.n_explained] = n_explained
        session.run([bottleneck.configure, objective.reset, bottleneck.initialize_flag],
                    configure)
        report_tensors = {name: objective.report[name] for name in sorted(collected)}
        report = collections.OrderedDict()
        if report_tensors:
            report["init"] = session.run(report_tensors, feed_dict)
        steps = self.settings["steps"]
        for step in get_tqdm()(range(steps), disable=not progbar, desc="IBA"):
            _, report[step] = session.run([objective.step, report_tensors], feed_dict)
        capacity, report["final"] = session.run([objective.capacity, report_tensors], feed_dict)
        return capacity, (report if report_tensors else None)


def targets_feed(objective, feed_dict, n_explained, n_classes=None):
    """Returns ``feed_dict`` with the objective's target as one int per explained sample.

    Raises:
        ValueError: if the target is missing, its count does not fit, or a target is not an
            integer class in ``0 .. n_classes - 1``.
    """
    target = objective.target
    feed_dict = dict(feed_dict)
    if n_explained != 1 and not objective.per_row:
        raise ValueError(
            "feed_dict holds {} samples, but a scalar model loss explains one sample at a "
            "time: pass one sample, or give set_model_loss one loss per row.".format(
                n_explained))
    if target is None:
        return feed_dict
    if target not in feed_dict:
        raise ValueError("The feed_dict lacks the target: feed the placeholder returned "
                         "by set_classification_loss with the explained class.")
    feed_dict[target] = check_targets(feed_dict[target], n_explained, n_classes)
    return feed_dict
