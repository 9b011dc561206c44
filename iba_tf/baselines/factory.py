"""``create_analyzer``: innvestigate's analyzer where it runs on the model, else iba_tf's own.

:func:`create_analyzer` tries innvestigate's analyzer on one sample and falls back to the
analyzer of the same name in :data:`~iba_tf.baselines.factory.FALLBACKS`, with a warning that names innvestigate's error;
:func:`analyzer_source` says which of the two a returned analyzer is.
"""
import logging
import warnings

import numpy as np

from .gradient import Gradient
from .input_times_gradient import InputTimesGradient
from .integrated_gradients import IntegratedGradients
from .random import Random

__all__ = ["AnalyzerUnavailable", "create_analyzer", "analyzer_source", "FALLBACKS",
           "NOT_FROM_INNVESTIGATE"]

logger = logging.getLogger(__name__)


class AnalyzerUnavailable(RuntimeError):
    """innvestigate cannot analyze the model with this method and iba_tf has no fallback.

    Attributes:
        method (str): the analyzer name.
        reason (str): innvestigate's error, in one line.
    """

    def __init__(self, message, method=None, reason=None):
        super().__init__(message)
        self.method = method
        self.reason = reason


#: innvestigate analyzer names that iba_tf implements itself (the fallbacks of create_analyzer).
FALLBACKS = {
    "gradient": Gradient,
    "input_t_gradient": InputTimesGradient,
    "integrated_gradients": IntegratedGradients,
    "random": Random,
}


#: Names for which create_analyzer always returns the iba_tf analyzer, and why.
NOT_FROM_INNVESTIGATE = {
    "random": "innvestigate's Random returns the input plus Gaussian noise (a keras "
              "GaussianNoise layer applied to the input), not noise: it ranks pixels by their "
              "intensity, which is no random baseline",
}


def _one_line(error):
    text = "{}: {}".format(type(error).__name__, str(error).strip().splitlines()[0]
                           if str(error).strip() else "")
    return text if len(text) <= 200 else text[:197] + "..."


def _probe(analyzer, model, probe):
    """Runs ``analyzer`` on one sample; raises what innvestigate raises."""
    import innvestigate.analyzer.base as base
    if isinstance(analyzer, getattr(base, "TrainerMixin", ())):
        return                      # needs fit() before it can analyze: nothing to try yet
    if probe is None:
        shape = model.input_shape[1:]
        if any(s is None for s in shape):
            return                  # no sample shape to try: the build had to do
        probe = np.zeros((1,) + tuple(shape), np.float32)
    probe = np.asarray(probe, np.float32)[:1]
    mode = getattr(analyzer, "_neuron_selection_mode", "max_activation")
    result = analyzer.analyze(probe, neuron_selection=0) if mode == "index" else \
        analyzer.analyze(probe)
    if np.shape(result) != probe.shape:
        raise ValueError("the analysis of one sample has shape {}, expected {}".format(
            np.shape(result), probe.shape))


def _check_arguments(name, prefer):
    from ..tensorflow_v1.compat import require_graph_mode
    require_graph_mode("iba_tf.baselines.create_analyzer")
    if not isinstance(name, str):
        raise TypeError("name must be an analyzer name (str), got {!r}.".format(
            type(name).__name__))
    if prefer not in ("innvestigate", "iba_tf"):
        raise ValueError("prefer={!r} is invalid: use 'innvestigate' or 'iba_tf'.".format(prefer))


def _own(fallback, model, kwargs, reason):
    """iba_tf's analyzer, with the innvestigate error it stands in for (None: none)."""
    analyzer = fallback(model, **kwargs)
    analyzer.fallback_reason = reason
    return analyzer


def _fall_back(name, model, error, kwargs):
    """After innvestigate's ``error``: iba_tf's analyzer with a warning, or AnalyzerUnavailable."""
    reason = _one_line(error)
    fallback = FALLBACKS.get(name)
    if fallback is None:
        raise AnalyzerUnavailable(
            "innvestigate cannot analyze the model {} with {!r} ({}); iba_tf has no own "
            "implementation of it (it has: {}).".format(
                model.name, name, reason, ", ".join(sorted(FALLBACKS))),
            method=name, reason=reason) from None
    message = ("innvestigate cannot analyze the model {} with {!r} ({}); using "
               "iba_tf.baselines.{} instead.".format(model.name, name, reason,
                                                     fallback.__name__))
    logger.info(message)
    # the warning points at the caller of create_analyzer
    warnings.warn(message, stacklevel=3)
    return _own(fallback, model, kwargs, reason)


def create_analyzer(name, model, prefer="innvestigate", probe=None, **kwargs):
    """Returns an analyzer named as in innvestigate that works on ``model``.

    1. ``prefer="iba_tf"`` and ``name`` in :data:`~iba_tf.baselines.factory.FALLBACKS`, or ``name`` in
       :data:`~iba_tf.baselines.factory.NOT_FROM_INNVESTIGATE` (``"random"``: innvestigate's returns the input plus
       noise): the iba_tf analyzer.
    2. ``"iba"``: :class:`iba_tf.IBACopyInnvestigate`, as built (it needs ``fit`` before it
       can analyze).
    3. Else innvestigate's analyzer (``innvestigate.create_analyzer(name, model, **kwargs)``),
       once it was built and ran on one sample (``probe``, default zeros of the input shape;
       analyzers that need ``fit`` first are only built).
    4. If that fails and ``name`` is in :data:`~iba_tf.baselines.factory.FALLBACKS`: the iba_tf analyzer, with a
       ``UserWarning`` (also logged at INFO level) naming innvestigate's error. The returned
       analyzer's ``fallback_reason`` holds that error in one line (None where nothing
       failed).
    5. Else :class:`AnalyzerUnavailable` naming innvestigate's error.

    Args:
        name (str): an innvestigate analyzer name, e.g. ``"gradient"``, ``"lrp.epsilon"``,
            ``"guided_backprop"``, ``"integrated_gradients"``, ``"iba"``.
        model (keras.Model): the model, with a logits output.
        prefer (str): ``"innvestigate"`` (default) or ``"iba_tf"``.
        probe (np.ndarray): a sample (or batch; the first sample is used) for the trial run.
        **kwargs: arguments of the analyzer, e.g. ``neuron_selection_mode="index"``,
            ``steps=32``, ``reference_inputs=0``.

    Raises:
        AnalyzerUnavailable: innvestigate fails and iba_tf has no implementation of ``name``.
        ValueError: ``name`` is unknown.

    Example:
        >>> analyzer = create_analyzer("gradient", fer_model, neuron_selection_mode="index")
        UserWarning: innvestigate cannot analyze ... with 'gradient' (ValueError: The name
        "add_1" is used 2 times in the model. ...); using iba_tf.baselines.Gradient instead.
        >>> analyzer.fallback_reason
        'ValueError: The name "add_1" is used 2 times in the model. All layer names should ...'
    """
    import innvestigate
    from ..tensorflow_v1 import innvestigate_analyzer  # noqa: F401 -- registers "iba"
    _check_arguments(name, prefer)
    if name in NOT_FROM_INNVESTIGATE:
        logger.info("create_analyzer(%r): iba_tf's own analyzer, as %s", name,
                    NOT_FROM_INNVESTIGATE[name])
        prefer = "iba_tf"
    if prefer == "iba_tf" and name in FALLBACKS:
        return _own(FALLBACKS[name], model, kwargs, None)
    if name not in innvestigate.analyzer.analyzers:
        raise ValueError("Unknown analyzer {!r}; innvestigate knows: {}.".format(
            name, ", ".join(sorted(innvestigate.analyzer.analyzers))))
    if name == "iba":
        # IBACopyInnvestigate: iba_tf's own analyzer (its errors are its own); it needs its
        # statistics (fit) before it can analyze, so there is nothing to try yet
        return innvestigate.create_analyzer(name, model, **kwargs)
    try:
        analyzer = innvestigate.create_analyzer(name, model, **kwargs)
        _probe(analyzer, model, probe)
    except Exception as error:  # innvestigate fails in many ways: the error is reported
        return _fall_back(name, model, error, kwargs)
    analyzer.fallback_reason = None
    return analyzer


def analyzer_source(analyzer):
    """Says which code computes ``analyzer``'s maps: ``"innvestigate"`` or ``"iba_tf"``.

    Example:
        >>> analyzer_source(create_analyzer("gradient", model, prefer="iba_tf"))
        'iba_tf'
    """
    module = type(analyzer).__module__ or ""
    return "iba_tf" if module.startswith("iba_tf") else module.split(".")[0]
