"""Integrated gradients (Sundararajan et al. 2017), as a Riemann sum."""
import numpy as np

from .gradient import Gradient

__all__ = ["IntegratedGradients"]


class IntegratedGradients(Gradient):
    """Integrated gradients: ``(X - baseline) * mean of the gradient along the straight path``.

    The integral over ``t`` in ``[0, 1]`` is a Riemann sum with ``steps`` points. With
    ``rule="midpoint"`` (default) the points are ``t = (k + 0.5) / steps``; ``rule="left"`` uses
    ``t = k / steps``, k = 0 .. steps-1, the points of innvestigate's IntegratedGradients. The
    attributions add up to about ``f(X) - f(baseline)`` (completeness); more steps, closer.

    With ``neuron_selection_mode="max_activation"`` the explained output is each sample's
    largest output *at X* (not at each point of the path), as innvestigate does.

    Args:
        model (keras.Model): see :class:`~.gradient.Gradient`.
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
            from ..tensorflow_v1.compat import tf
            output = self._model.output
            with output.graph.as_default(), tf.name_scope("iba_tf_integratedgradients_index"):
                flat = tf.reshape(output, [-1, self._n_outputs()])
                score = tf.reduce_sum(flat * tf.one_hot(self._target, self._n_outputs(),
                                                        dtype=flat.dtype), axis=1)
                self._index_gradient_op = tf.gradients(tf.reduce_sum(score),
                                                       self._model.input)[0]

    def _index_gradient(self):
        return self._index_gradient_op
