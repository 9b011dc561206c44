"""The gradient of the selected output w.r.t. the input (Simonyan et al.)."""
import numpy as np

from .base import TFAnalyzer, check_model

__all__ = ["Gradient"]


class Gradient(TFAnalyzer):
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
        check_model(model, type(self).__name__)
        super().__init__(model, neuron_selection_mode, batch_size, session, **kwargs)
        if postprocess not in (None, "abs", "square"):
            raise ValueError("postprocess={!r} is invalid: use None, 'abs' or 'square'."
                             .format(postprocess))
        self._postprocess = postprocess
        self._build()

    def _build(self):
        from ..tensorflow_v1.compat import tf
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
