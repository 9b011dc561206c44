"""The objective of the Per-Sample Bottleneck and the in-graph Adam step that minimises it.

``loss = model_loss(Z) + beta * information`` where ``information`` is the capacity (KL
divergence, nats) summed over the neurons and scaled by ``information_scale`` (``1 / k`` when
``normalize_beta``). See ``shared/IBA_METHOD.md`` for the formulas.
"""
from .compat import tf
from . import ops
from .graph import bypassing_tensors

__all__ = ["Objective", "REPORT_VARIABLES", "classification_loss", "neuron_capacity"]

REPORT_VARIABLES = ("alpha", "lambda", "capacity", "model_loss", "information_loss", "loss",
                    "alpha_gradient")


def classification_loss(logits, noise_samples, name):
    """Softmax cross-entropy of ``logits`` for a target placeholder, one value per row.

    Returns:
        (target placeholder ``(n,)`` int32, per-row loss): each target is repeated once per
        noise sample, as the rows of ``logits`` are.
    """
    if not isinstance(logits, tf.Tensor):
        raise TypeError("logits must be a tf.Tensor such as model.output, got {!r}."
                        .format(type(logits).__name__))
    if logits.op.type == "Softmax":
        raise ValueError(
            "{} is a softmax output; IBA needs the logits. Remove the softmax with "
            "iba_tf.model_wo_softmax(model).".format(logits.name))
    if logits.shape.ndims != 2:
        raise ValueError("logits must have shape (batch, classes); {} has shape {}."
                         .format(logits.name, logits.shape))
    with tf.name_scope(name):
        target = tf.placeholder(tf.int32, (None,), name="target")
        per_row = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=ops.repeat_rows(target, noise_samples), logits=logits)
    return target, per_row


def neuron_capacity(bottleneck, feature, alpha=None):
    """The capacity (nats) of every neuron of ``feature`` restricted with alpha.

    Args:
        bottleneck (Bottleneck): the engine (statistics, masks, smoothing).
        feature (tf.Tensor): the unrestricted feature map ``(n, *feature_shape)``.
        alpha (tf.Tensor): alpha to use instead of the bottleneck's variable (see
            :meth:`~iba_tf.tensorflow_v1.bottleneck.Bottleneck.restrict`); None reads the variable.

    Returns:
        (alpha, lambda, capacity): the capacity is 0 for passed and inactive neurons.
    """
    alpha, lam, one_minus_lam = bottleneck.lambdas(alpha)
    normalized, counted = information_terms(feature, bottleneck.state())
    return alpha, lam, ops.capacity(lam, one_minus_lam, normalized) * counted


def check_model_loss(model_loss):
    """Raises TypeError/ValueError unless ``model_loss`` is a scalar or per-row tensor."""
    if not isinstance(model_loss, tf.Tensor):
        raise TypeError("model_loss must be a tf.Tensor, got {!r}."
                        .format(type(model_loss).__name__))
    if model_loss.shape.ndims not in (0, 1):
        raise ValueError("model_loss must be a scalar or one value per row; {} has shape "
                         "{}.".format(model_loss.name, model_loss.shape))


class Objective:
    """The objective of one bottleneck application and the ops that optimise it.

    Args:
        bottleneck (Bottleneck): the engine whose alpha is optimised.
        model_loss (tf.Tensor): one loss per row of the model's batch, or a scalar.
        target (tf.Tensor): the target placeholder of a classification loss, or None.
        name (str): name scope.

    Attributes:
        application (Application): the application the loss is computed from.
        model_loss: as given.
        target: as given.
        bypass (list): tensors the loss reads around the bottleneck that come from the
            model's inputs (e.g. a residual shortcut); they are computed once per analysis and
            repeated once per noise sample.
        per_row (bool): True for a per-row loss (several samples can be explained at once).
        step: the op of one Adam step on alpha.
        reset: the op that resets alpha and Adam's moments (run after ``configure``).
        capacity: the per-neuron capacity tensor ``(n, *feature_shape)``.
        report (dict): name -> tensor, for every name in ``REPORT_VARIABLES``.
    """

    def __init__(self, bottleneck, model_loss, target=None, name="objective"):
        self.application = bottleneck.application_for(model_loss, "loss")
        self.model_loss = model_loss
        self.target = target
        feature = self.application.inputs
        self.bypass = bypassing_tensors(self.application.outputs, model_loss, feature)
        if any(tensor is feature for tensor in self.bypass):
            raise ValueError(
                "The IBALayer's input {} is also read around the layer (a skip connection "
                "starts there), so the loss would see it both restricted and not. Put the "
                "IBALayer after a layer inside the branch, or explain the model with IBACopy, "
                "which restricts every use of the feature.".format(feature.name))
        self.per_row = model_loss.shape.ndims == 1
        with tf.name_scope(name):
            self._build(bottleneck, model_loss, feature)

    def _build(self, bottleneck, model_loss, feature):
        alpha, lam, one_minus_lam = bottleneck.lambdas()
        self.report = evaluate(bottleneck, model_loss, self.per_row, (alpha, lam, one_minus_lam),
                               information_terms(feature, bottleneck.state()))
        # alpha is read twice: for the noisy feature and for the capacity.
        gradient = alpha_gradient(self.report["loss"], self.application.alpha, alpha,
                                  model_loss)
        self.step, reset_adam = ops.adam_update(bottleneck.alpha, gradient,
                                                bottleneck.learning_rate)
        self.reset = tf.group(bottleneck.reset_alpha, reset_adam(bottleneck.reset_alpha))
        self.capacity = self.report["capacity"]
        self.report["alpha_gradient"] = gradient


def information_terms(feature, state):
    """The alpha-independent terms of the capacity: the normalised feature and the mask of the
    neurons that count (not passed, active)."""
    normalized = (feature - state.mean) / state.std
    return normalized, 1. - tf.maximum(state.pass_mask, 1. - state.active)


def evaluate(bottleneck, model_loss, per_row, alpha_lambdas, terms):
    """The report tensors but the gradient: capacity, information, model and total loss.

    Args:
        alpha_lambdas: ``(alpha, lambda, 1 - lambda)``.
        terms: :func:`information_terms` of the feature.
    """
    alpha, lam, one_minus_lam = alpha_lambdas
    normalized, counted = terms
    per_neuron = ops.capacity(lam, one_minus_lam, normalized) * counted
    # with a prior mask (InputIBA), the loss counts only what passes beyond the prior; the
    # reported capacity stays the information relative to the data distribution
    charged = per_neuron if bottleneck.prior is None else ops.prior_capacity(
        lam, one_minus_lam, normalized, bottleneck.prior) * counted
    neuron_axes = list(range(1, len(bottleneck.feature_shape) + 1))
    information = tf.reduce_sum(charged, neuron_axes) * bottleneck.information_scale
    if per_row:
        per_sample = tf.reduce_mean(tf.reshape(
            model_loss, [tf.shape(normalized)[0], bottleneck.noise_samples]), axis=1)
    else:
        per_sample = model_loss
    # A sum over samples: each sample's alpha gets exactly its own gradient.
    total = tf.reduce_sum(per_sample + bottleneck.beta * information)
    return {"alpha": alpha, "lambda": lam, "capacity": per_neuron, "model_loss": per_sample,
            "information_loss": information, "loss": total}


def alpha_gradient(total, noise_alpha, capacity_alpha, model_loss):
    """The gradient of ``total`` for alpha, read once for the noise and once for the capacity.

    Raises:
        ValueError: if the model loss does not depend on the bottleneck.
    """
    through_model, through_capacity = tf.gradients(total, [noise_alpha, capacity_alpha])
    if through_model is None:
        raise ValueError("The loss {} does not depend on the bottleneck.".format(
            model_loss.name))
    gradient = through_model + through_capacity
    # NaNs must never reach the optimiser.
    return tf.where(tf.is_finite(gradient), gradient, tf.zeros_like(gradient))
