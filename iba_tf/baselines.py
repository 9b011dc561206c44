"""Baseline attribution methods with innvestigate's calling convention.

innvestigate 1.0.9 builds its analyzers by rebuilding the model layer by layer. With Keras
2.3.1 this fails on some models: on the ``fer`` emotion model (BatchNorm, SeparableConv2D, Add)
the gradient and guided backprop analyzers stop with "The name ... is used 2 times in the
model", LRP and Deep Taylor with "got an unexpected keyword argument 'dtype'" (in its BatchNorm
rule), and whether integrated gradients works depends on how far Keras' layer-name counters
have advanced. This module gives the gradient family from plain ``tf.gradients`` on the model's
own graph, so it works on any differentiable Keras model:

- :class:`Gradient`: the gradient of the selected output w.r.t. the input (Simonyan et al.).
- :class:`InputTimesGradient`: input times gradient (Shrikumar et al.).
- :class:`IntegratedGradients`: the path integral of the gradient from a baseline (Sundararajan
  et al. 2017), as a Riemann sum.
- :class:`Random`: seeded Gaussian noise, the floor every method should beat (innvestigate's
  Random returns the input plus noise, see :data:`NOT_FROM_INNVESTIGATE`).

All take ``Cls(model, neuron_selection_mode=...)`` and return ``analyze(X, neuron_selection)``
arrays of ``X.shape``, like innvestigate's analyzers, so either can be used in the same code
(e.g. :mod:`iba_tf.evaluation`). The gradient ops are added to the model's graph once, when the
analyzer is built; :meth:`analyze` only runs them.

:func:`create_analyzer` returns innvestigate's analyzer when innvestigate can build *and* run it
on the model (it tries one sample), else the iba_tf analyzer of the same name, with a warning
that names innvestigate's error; methods iba_tf does not implement (LRP, guided backprop, ...)
raise :class:`AnalyzerUnavailable` with that error instead.

Example:
    >>> from iba_tf.baselines import create_analyzer
    >>> analyzer = create_analyzer("integrated_gradients", model, neuron_selection_mode="index")
    >>> heatmaps = analyzer.analyze(x[:4], neuron_selection=[3, 1, 4, 1])    # x[:4].shape
"""
import logging
import warnings

import numpy as np

__all__ = ["Gradient", "InputTimesGradient", "IntegratedGradients", "Random",
           "AnalyzerUnavailable", "create_analyzer", "FALLBACKS", "NOT_FROM_INNVESTIGATE",
           "analyzer_source"]

logger = logging.getLogger(__name__)

MODES = ("max_activation", "index", "all")
# innvestigate keyword arguments that need no work here (the model checks they switch off do
# not exist in this module)
_IGNORED_KWARGS = ("disable_model_checks", "allow_lambda_layers")


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


def _check_model(model, what):
    import keras
    from .tensorflow_v1.keras_utils import _is_softmax
    if not isinstance(model, keras.models.Model):
        raise TypeError("{} needs a keras Model, got {!r}.".format(what, type(model).__name__))
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError("{} explains models with one input and one output; {} has {} input(s) "
                         "and {} output(s).".format(what, model.name, len(model.inputs),
                                                    len(model.outputs)))
    if model.output.op.type == "Softmax" or _is_softmax(
            getattr(model.layers[-1], "activation", None)):
        raise ValueError("The model {} ends with a softmax; {} explains the logits. Use "
                         "iba_tf.model_wo_softmax(model).".format(model.name, what))


def _check_mode(mode):
    if mode not in MODES:
        raise ValueError("neuron_selection_mode={!r} is invalid: use 'max_activation', 'index' or "
                         "'all'.".format(mode))


class _TFAnalyzer:
    """Shared parts: the model checks, neuron selection, batching and the no-op fit."""

    def __init__(self, model, neuron_selection_mode="max_activation", batch_size=64,
                 session=None, **kwargs):
        unknown = sorted(set(kwargs) - set(_IGNORED_KWARGS))
        if unknown:
            raise TypeError("{} got unexpected keyword argument(s) {}.".format(
                type(self).__name__, ", ".join(unknown)))
        _check_mode(neuron_selection_mode)
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError("batch_size must be an int >= 1, got {!r}.".format(batch_size))
        self._model = model
        self._neuron_selection_mode = neuron_selection_mode
        self._batch_size = int(batch_size)
        self._session = session

    # innvestigate's analyzers have fit and fit_generator; these methods need no training
    def fit(self, *args, **kwargs):
        """Does nothing: the method needs no training (kept for innvestigate's API)."""

    def fit_generator(self, *args, **kwargs):
        """Does nothing: the method needs no training (kept for innvestigate's API)."""

    @property
    def model(self):
        """The explained model."""
        return self._model

    def _n_outputs(self):
        return int(np.prod(self._model.output_shape[1:]))

    def _check_X(self, X):
        X = np.asarray(X, dtype=np.float32)
        expected = self._model.input_shape[1:]
        if X.ndim != len(expected) + 1 or len(X) == 0 or any(
                e is not None and e != s for e, s in zip(expected, X.shape[1:])):
            raise ValueError("X must be a batch of samples of shape {} (the model's input without "
                             "the batch axis), got {}.".format(expected, X.shape))
        return X

    def _selection(self, X, neuron_selection):
        """One output index per sample, or None for 'max_activation' / 'all'."""
        mode = self._neuron_selection_mode
        if mode != "index":
            if neuron_selection is not None:
                raise ValueError("neuron_selection is only used with neuron_selection_mode="
                                 "'index'; this analyzer uses {!r}.".format(mode))
            return None
        if neuron_selection is None:
            raise ValueError("neuron_selection_mode 'index' needs neuron_selection: the output "
                             "to explain, an int or one per sample.")
        targets = np.asarray(neuron_selection).reshape(-1) if np.ndim(neuron_selection) else \
            np.full(len(X), int(neuron_selection))
        if targets.size == 1:
            targets = np.full(len(X), int(targets[0]))
        if len(targets) != len(X):
            raise ValueError("neuron_selection has {} entries for {} samples: give one int or "
                             "one per sample.".format(len(targets), len(X)))
        bad = [int(t) for t in targets if not 0 <= t < self._n_outputs()]
        if bad:
            raise ValueError("neuron_selection {} out of range: the model has {} outputs."
                             .format(bad, self._n_outputs()))
        return targets.astype(np.int32)

    def _run_session(self):
        from .tensorflow_v1.session import resolve_session
        with self._model.output.graph.as_default():
            return resolve_session(self._session)

    def __repr__(self):
        return "{}(model={!r}, neuron_selection_mode={!r})".format(
            type(self).__name__, self._model.name, self._neuron_selection_mode)


class Gradient(_TFAnalyzer):
    """The gradient of the selected output w.r.t. the input, computed with ``tf.gradients``.

    Args:
        model (keras.Model): one input, one output: logits (a softmax output is refused, as in
            innvestigate; see :func:`iba_tf.model_wo_softmax`).
        neuron_selection_mode (str): ``"max_activation"`` (each sample's largest output),
            ``"index"`` (give ``neuron_selection`` to :meth:`analyze`) or ``"all"`` (the sum
            of all outputs), as in innvestigate.
        postprocess (str): None, ``"abs"`` or ``"square"``, applied to the gradient (as
            innvestigate's ``Gradient(postprocess=...)``).
        batch_size (int): rows per session run.
        session (tf.Session): the model's session; None uses the default (or Keras') session.

    Example:
        >>> analyzer = Gradient(model, neuron_selection_mode="index")
        >>> grads = analyzer.analyze(x[:2], neuron_selection=[7, 2])          # x[:2].shape
    """

    def __init__(self, model, neuron_selection_mode="max_activation", postprocess=None,
                 batch_size=64, session=None, **kwargs):
        _check_model(model, type(self).__name__)
        super().__init__(model, neuron_selection_mode, batch_size, session, **kwargs)
        if postprocess not in (None, "abs", "square"):
            raise ValueError("postprocess={!r} is invalid: use None, 'abs' or 'square'."
                             .format(postprocess))
        self._postprocess = postprocess
        self._build()

    def _build(self):
        from .tensorflow_v1.compat import tf
        output = self._model.output
        with output.graph.as_default(), tf.name_scope("iba_tf_{}".format(
                type(self).__name__.lower())):
            flat = tf.reshape(output, [-1, self._n_outputs()])
            self._target = tf.placeholder(tf.int32, [None], name="neuron_selection")
            if self._neuron_selection_mode == "max_activation":
                score = tf.reduce_max(flat, axis=1)
            elif self._neuron_selection_mode == "index":
                score = tf.reduce_sum(flat * tf.one_hot(self._target, self._n_outputs(),
                                                        dtype=flat.dtype), axis=1)
            else:
                score = tf.reduce_sum(flat, axis=1)
            # rows are independent: the gradient of the sum is each row's own gradient
            self._gradient = tf.gradients(tf.reduce_sum(score), self._model.input)[0]
        if self._gradient is None:
            raise ValueError("The output of {} does not depend on its input: there is no "
                             "gradient.".format(self._model.name))

    def _gradients(self, X, targets):
        """Runs the gradient op in batches; ``targets`` None or one int per row."""
        session = self._run_session()
        parts = []
        for start in range(0, len(X), self._batch_size):
            feed = {self._model.input: X[start:start + self._batch_size]}
            if targets is not None:
                feed[self._target] = targets[start:start + self._batch_size]
            parts.append(session.run(self._gradient, feed))
        return np.concatenate(parts)

    def analyze(self, X, neuron_selection=None):
        """Returns the gradient for each sample of ``X``, of ``X.shape``.

        Args:
            X (np.ndarray): a batch of inputs.
            neuron_selection: with mode ``"index"``, the output to explain: an int for every
                sample or one per sample.
        """
        X = self._check_X(X)
        gradient = self._gradients(X, self._selection(X, neuron_selection))
        if self._postprocess == "abs":
            gradient = np.abs(gradient)
        elif self._postprocess == "square":
            gradient = np.square(gradient)
        return gradient


class InputTimesGradient(Gradient):
    """Input times gradient: ``X * dy/dX``; arguments as for :class:`Gradient`.

    Example:
        >>> InputTimesGradient(model).analyze(x[:4]).shape == x[:4].shape
        True
    """

    def __init__(self, model, neuron_selection_mode="max_activation", batch_size=64,
                 session=None, **kwargs):
        super().__init__(model, neuron_selection_mode, None, batch_size, session, **kwargs)

    def analyze(self, X, neuron_selection=None):
        """Returns ``X * gradient`` for each sample of ``X`` (``X.shape``)."""
        X = self._check_X(X)
        return X * self._gradients(X, self._selection(X, neuron_selection))


class IntegratedGradients(Gradient):
    """Integrated gradients: ``(X - baseline) * mean of the gradient along the straight path``.

    The integral over ``t`` in ``[0, 1]`` is a Riemann sum with ``steps`` points. With
    ``rule="midpoint"`` (default) the points are ``t = (k + 0.5) / steps``; ``rule="left"`` uses
    ``t = k / steps``, k = 0 .. steps-1, the points of innvestigate's IntegratedGradients. The
    attributions add up to about ``f(X) - f(baseline)`` (completeness); more steps, closer.

    With ``neuron_selection_mode="max_activation"`` the explained output is each sample's
    largest output *at X* (not at each point of the path), as innvestigate does.

    Args:
        model (keras.Model): see :class:`Gradient`.
        neuron_selection_mode (str): ``"max_activation"``, ``"index"`` or ``"all"``.
        steps (int): points on the path (innvestigate's default: 64).
        baseline (float or np.ndarray): the reference input: a scalar, or an array that
            broadcasts to one sample (e.g. a blurred image has to be given per sample: pass an
            ``X``-shaped array). ``reference_inputs`` is innvestigate's name for it.
        rule (str): ``"midpoint"`` or ``"left"``.
        batch_size (int): rows (path points) per session run.
        session (tf.Session): the model's session.

    Example:
        >>> ig = IntegratedGradients(model, steps=32, baseline=0.)
        >>> attributions = ig.analyze(x[:1])
        >>> attributions.sum()      # ~ logit(x) - logit(zeros)
    """

    def __init__(self, model, neuron_selection_mode="max_activation", steps=64, baseline=0.,
                 reference_inputs=None, rule="midpoint", batch_size=64, session=None, **kwargs):
        super().__init__(model, neuron_selection_mode, None, batch_size, session, **kwargs)
        if not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError("steps must be an int >= 1, got {!r}.".format(steps))
        if rule not in ("midpoint", "left"):
            raise ValueError("rule={!r} is invalid: use 'midpoint' or 'left'.".format(rule))
        if reference_inputs is not None:
            baseline = reference_inputs
        self._steps = int(steps)
        self._baseline = np.asarray(baseline, dtype=np.float32)
        self._rule = rule

    def _baselines(self, X):
        try:
            return np.broadcast_to(self._baseline, X.shape) if self._baseline.shape != X.shape \
                else self._baseline
        except ValueError:
            raise ValueError("The baseline of shape {} does not broadcast to the inputs of shape "
                             "{}.".format(self._baseline.shape, X.shape)) from None

    def analyze(self, X, neuron_selection=None):
        """Returns the integrated gradients of each sample of ``X`` (``X.shape``)."""
        X = self._check_X(X)
        targets = self._selection(X, neuron_selection)
        if self._neuron_selection_mode == "max_activation":
            session = self._run_session()
            logits = session.run(self._model.output, {self._model.input: X})
            targets = logits.reshape(len(X), -1).argmax(axis=1).astype(np.int32)
        baseline = self._baselines(X)
        offset = 0.5 if self._rule == "midpoint" else 0.
        alphas = ((np.arange(self._steps) + offset) / self._steps).astype(np.float32)
        alpha_shape = (-1,) + (1,) * (X.ndim - 1)
        result = np.empty_like(X)
        # one sample's whole path at a time, split into runs of batch_size rows
        for i in range(len(X)):
            path = baseline[i] + alphas.reshape(alpha_shape) * (X[i] - baseline[i])
            rows = None if targets is None else np.full(self._steps, targets[i], np.int32)
            gradient = self._gradients_with(path, rows)
            result[i] = (X[i] - baseline[i]) * gradient.mean(axis=0)
        return result

    def _gradients_with(self, path, rows):
        if self._neuron_selection_mode == "all":
            return self._gradients(path, None)
        # along the path the target is fixed: run the 'index' selection
        session = self._run_session()
        parts = []
        for start in range(0, len(path), self._batch_size):
            parts.append(session.run(self._index_gradient(), {
                self._model.input: path[start:start + self._batch_size],
                self._target: rows[start:start + self._batch_size]}))
        return np.concatenate(parts)

    def _build(self):
        super()._build()
        self._index_gradient_op = self._gradient
        if self._neuron_selection_mode == "max_activation":
            # the explained output is fixed at X: build the 'index' gradient as well
            from .tensorflow_v1.compat import tf
            output = self._model.output
            with output.graph.as_default(), tf.name_scope("iba_tf_integratedgradients_index"):
                flat = tf.reshape(output, [-1, self._n_outputs()])
                score = tf.reduce_sum(flat * tf.one_hot(self._target, self._n_outputs(),
                                                        dtype=flat.dtype), axis=1)
                self._index_gradient_op = tf.gradients(tf.reduce_sum(score),
                                                       self._model.input)[0]

    def _index_gradient(self):
        return self._index_gradient_op


class Random(_TFAnalyzer):
    """Gaussian noise of ``X.shape``: the baseline every attribution method should beat.

    innvestigate's Random is no such baseline: it applies a GaussianNoise layer to the input
    and so returns ``X + noise``, which ranks bright pixels first (on MNIST digits it scores
    like a real attribution in the degradation test). Here the noise does not depend on
    ``X``; it comes from a numpy generator seeded at construction, so a run is repeatable.
    Every call draws new noise.

    Args:
        model (keras.Model): the model (only its input shape is used).
        neuron_selection_mode (str): accepted for the common API; the noise ignores it.
        stddev (float): standard deviation of the noise.
        seed (int): seed of the generator.

    Example:
        >>> Random(model, seed=0).analyze(x[:2]).shape == x[:2].shape
        True
    """

    def __init__(self, model, neuron_selection_mode="max_activation", stddev=1., seed=0,
                 **kwargs):
        import keras
        if not isinstance(model, keras.models.Model):
            raise TypeError("Random needs a keras Model, got {!r}.".format(type(model).__name__))
        super().__init__(model, neuron_selection_mode, **kwargs)
        self._stddev = float(stddev)
        self._rng = np.random.RandomState(seed)

    def analyze(self, X, neuron_selection=None):
        """Returns noise of ``X.shape`` (``neuron_selection`` is checked, then ignored)."""
        X = self._check_X(X)
        self._selection(X, neuron_selection)
        return self._rng.normal(0., self._stddev, size=X.shape).astype(np.float32)


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


def create_analyzer(name, model, prefer="innvestigate", probe=None, **kwargs):
    """Returns an analyzer named as in innvestigate that works on ``model``.

    1. ``prefer="iba_tf"`` and ``name`` in :data:`FALLBACKS`, or ``name`` in
       :data:`NOT_FROM_INNVESTIGATE` (``"random"``: innvestigate's returns the input plus
       noise): the iba_tf analyzer.
    2. ``"iba"``: :class:`iba_tf.IBACopyInnvestigate`, as built (it needs ``fit`` before it
       can analyze).
    3. Else innvestigate's analyzer (``innvestigate.create_analyzer(name, model, **kwargs)``),
       once it was built and ran on one sample (``probe``, default zeros of the input shape;
       analyzers that need ``fit`` first are only built).
    4. If that fails and ``name`` is in :data:`FALLBACKS`: the iba_tf analyzer, with a
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
    from .tensorflow_v1 import innvestigate_analyzer  # noqa: F401 -- registers "iba"
    if not isinstance(name, str):
        raise TypeError("name must be an analyzer name (str), got {!r}.".format(
            type(name).__name__))
    if prefer not in ("innvestigate", "iba_tf"):
        raise ValueError("prefer={!r} is invalid: use 'innvestigate' or 'iba_tf'.".format(prefer))
    fallback = FALLBACKS.get(name)
    if name in NOT_FROM_INNVESTIGATE:
        logger.info("create_analyzer(%r): iba_tf's own analyzer, as %s", name,
                    NOT_FROM_INNVESTIGATE[name])
        prefer = "iba_tf"
    if prefer == "iba_tf" and fallback is not None:
        analyzer = fallback(model, **kwargs)
        analyzer.fallback_reason = None
        return analyzer
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
        reason = _one_line(error)
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
        warnings.warn(message, stacklevel=2)
        analyzer = fallback(model, **kwargs)
        analyzer.fallback_reason = reason
        return analyzer
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
