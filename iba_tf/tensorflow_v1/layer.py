"""IBALayer: the Per-Sample Bottleneck as a Keras layer you add to your own model."""
import collections
import contextlib

import numpy as np

from .compat import tf, keras, K, cond, require_graph_mode
from ..utils import get_tqdm
from .. import hyperparameters
from ..smoothing import smoothing_matrix
from ..welford import WelfordEstimator
from . import ops
from .graph import bypassing_tensors, depends_on
from .session import resolve_session

__all__ = ["IBALayer"]

INITIAL_ALPHA = 5.

REPORT_VARIABLES = ("alpha", "lambda", "capacity", "model_loss", "information_loss", "loss",
                    "alpha_gradient")


class _GraphParts:
    """Holds the layer's TensorFlow objects.

    Keras adds every variable assigned as a layer attribute to the layer's weights; the
    bottleneck's variables are not model weights (they must not be saved with the model or
    change ``model.get_weights()``), so they live here instead.
    """


class _Call:
    """The tensors of one application of the layer: its input and its output."""

    def __init__(self, inputs, outputs, alpha):
        self.inputs = inputs
        self.outputs = outputs
        self.alpha = alpha  # alpha as read inside the restricted branch


class IBALayer(keras.layers.Layer):
    """The Per-Sample Information Bottleneck as a Keras layer.

    Add the layer after the feature map you want to explain. While the model trains or
    predicts, it is exactly the identity. :meth:`analyze` replaces the feature ``R`` by
    ``Z = lambda * R + (1 - lambda) * eps`` with noise ``eps ~ N(mean, std^2)`` and optimises
    ``lambda = blur(sigmoid(alpha))`` for one input, so that as little information as possible
    passes (the capacity, in nats per neuron) while the model still predicts the target.

    Args:
        estimator (WelfordEstimator): a fitted estimator of the feature's mean and std; None
            creates an empty one that :meth:`fit` fills.
        feature_mean (np.ndarray): the feature's per-neuron mean (shape of one feature map);
            give it with ``feature_std`` instead of an estimator.
        feature_std (np.ndarray): the feature's per-neuron standard deviation.
        feature_active (np.ndarray): per-neuron flag; where 0, the neuron outputs 0 and passes
            no information. Default: all neurons active (with an estimator: the neurons that
            are non-zero in more than 1% of the samples).
        batch_size (int): noise samples averaged per optimisation step (default 10).
        steps (int): optimisation steps (default 10).
        beta (float): weight of the information loss (default 10).
        learning_rate (float): learning rate of Adam (default 1).
        min_std (float): lower bound of the feature std (default 0.01).
        smooth_std (float): std, in feature-map pixels, of the Gaussian blur of lambda
            (default 1; 0 disables it).
        normalize_beta (bool): if True, beta multiplies the mean capacity per neuron; if False,
            the sum (default True).
        **kwargs: keras layer keyword arguments such as ``name``.

    Every hyperparameter given to :meth:`analyze` overrides the default for that call only;
    :meth:`set_default` changes the defaults. 0 and False are honoured as values.

    Example:
        >>> model = keras.Sequential([
        ...     keras.layers.Conv2D(8, 3, activation="relu", input_shape=(32, 32, 3)),
        ...     IBALayer(name="iba"),
        ...     keras.layers.Flatten(),
        ...     keras.layers.Dense(10)])
        >>> iba = model.get_layer("iba")
        >>> target = iba.set_classification_loss(model.output)
        >>> iba.fit({model.input: train_images})
        >>> capacity = iba.analyze({model.input: image[None], target: 3})
        >>> saliency = to_saliency_map(capacity, image.shape[:2])

    The statistics are not model weights: a model saved with ``model.save`` keeps the layer's
    hyperparameters, and :meth:`state_dict` / :meth:`load_state_dict` keep the statistics.
    """

    def __init__(self, estimator=None, feature_mean=None, feature_std=None, feature_active=None,
                 batch_size=10, steps=10, beta=10, learning_rate=1, min_std=0.01, smooth_std=1.,
                 normalize_beta=True, **kwargs):
        super().__init__(**kwargs)
        if estimator is not None and (feature_mean is not None or feature_std is not None):
            raise ValueError("Give either an estimator or feature_mean/feature_std, not both.")
        if (feature_mean is None) != (feature_std is None):
            raise ValueError("feature_mean and feature_std must be given together.")
        self._defaults = hyperparameters.merge(hyperparameters.DEFAULTS, **dict(
            batch_size=batch_size, steps=steps, beta=beta, learning_rate=learning_rate,
            min_std=min_std, smooth_std=smooth_std, normalize_beta=normalize_beta))
        self._estimator = estimator if estimator is not None else WelfordEstimator()
        self._feature_mean = None if feature_mean is None else np.asarray(feature_mean)
        self._feature_std = None if feature_std is None else np.asarray(feature_std)
        self._feature_active = None if feature_active is None else np.asarray(feature_active)
        self._tf = _GraphParts()
        self._calls = []
        self._loss = None
        self._collected = set()
        self._report = None
        self._analyzed = False
        self.supports_masking = False

    # ------------------------------------------------------------------ hyperparameters
    def set_default(self, batch_size=None, steps=None, beta=None, learning_rate=None,
                    min_std=None, smooth_std=None, normalize_beta=None):
        """Updates the default hyperparameter values (None leaves a value as it is)."""
        self._defaults = hyperparameters.merge(self._defaults, **dict(
            batch_size=batch_size, steps=steps, beta=beta, learning_rate=learning_rate,
            min_std=min_std, smooth_std=smooth_std, normalize_beta=normalize_beta))

    def get_default(self):
        """Returns the default hyperparameter values as a dict."""
        return dict(self._defaults)

    # ------------------------------------------------------------------ report
    def collect(self, *var_names):
        """Marks the named variables to be recorded at every step of the next analyses.

        See :meth:`available_report_variables` for the names; :meth:`get_report` returns them.
        """
        unknown = [name for name in var_names if name not in REPORT_VARIABLES]
        if unknown:
            raise ValueError("Unknown report variable(s) {}; available are {}.".format(
                unknown, ", ".join(REPORT_VARIABLES)))
        self._collected.update(var_names)

    def collect_all(self):
        """Marks every report variable to be recorded (slows the optimisation down a little)."""
        self.collect(*REPORT_VARIABLES)

    def available_report_variables(self):
        """Returns the names that :meth:`collect` accepts."""
        return list(REPORT_VARIABLES)

    def get_report(self):
        """Returns the values recorded during the last :meth:`analyze`.

        Returns:
            OrderedDict: ``{"init": {...}, 0: {...}, 1: {...}, ..., "final": {...}}``; each
            entry maps the collected names to numpy values. ``"init"`` is before the first step,
            ``"final"`` after the last one.
        """
        if self._report is None:
            raise RuntimeError("No report yet: call collect(...) and then analyze(...).")
        return self._report

    # ------------------------------------------------------------------ keras
    def build(self, input_shape):
        """Creates the bottleneck's variables for a feature of shape ``input_shape``."""
        require_graph_mode("IBALayer")
        feature_shape = tuple(input_shape[1:])
        if any(dim is None for dim in feature_shape) or not feature_shape:
            raise ValueError(
                "IBALayer needs a feature map whose shape is known apart from the batch axis; "
                "got {}. Give the model a fixed input_shape.".format(tuple(input_shape)))
        self._feature_shape = tuple(int(dim) for dim in feature_shape)
        self._make_variables()
        super().build(input_shape)

    def _make_variables(self):
        parts = self._tf
        shape = list(self._feature_shape)
        spatial = shape[:-1]

        def local(name, initial, shape=None):
            return tf.Variable(initial, name=name, trainable=False, use_resource=True,
                               shape=shape, collections=[tf.GraphKeys.LOCAL_VARIABLES])

        with tf.name_scope("bottleneck"):
            # The forward pass reads this flag, so it must be initialised before the model first
            # runs: a Keras variable is, by Keras' session (and by global_variables_initializer).
            # The other variables are read only while the flow is restricted.
            parts.restrict_flow = K.variable(False, dtype="bool", name="restrict_flow")
            parts.initialize_flag = cond(
                tf.is_variable_initialized(parts.restrict_flow), tf.no_op,
                lambda: tf.group(parts.restrict_flow.initializer))
            parts.flag_value = tf.placeholder(tf.bool, (), name="restrict_flow_value")
            parts.set_flag = parts.restrict_flow.assign(parts.flag_value)
            parts.analyzing = tf.placeholder_with_default(False, (), name="analyzing")
            parts.noise_samples = tf.placeholder_with_default(1, (), name="noise_samples")
            # One row per explained sample: the number of rows changes between analyses.
            parts.alpha = local("alpha", tf.fill([1] + shape, INITIAL_ALPHA),
                                tf.TensorShape([None] + shape))
            parts.mean = local("mean", tf.zeros(shape))
            parts.std = local("std", tf.ones(shape))
            parts.active = local("active", tf.ones(shape))
            parts.pass_mask = local("pass_mask", tf.zeros(shape))
            parts.min_std = local("min_std", tf.constant(0.01))
            parts.smoothing = [local("smoothing_{}".format(axis), tf.eye(size))
                               for axis, size in enumerate(spatial)]
            parts.variables = [parts.alpha, parts.mean, parts.std, parts.active,
                               parts.pass_mask, parts.min_std] + parts.smoothing

            # One run assigns the statistics and hyperparameters and resets alpha.
            parts.values = collections.OrderedDict(
                (variable, tf.placeholder(tf.float32, variable.shape))
                for variable in parts.variables[1:])
            parts.n_explained = tf.placeholder(tf.int32, (), name="n_explained")
            parts.configure = tf.group(*[variable.assign(value)
                                         for variable, value in parts.values.items()])
            parts.reset_alpha = parts.alpha.assign(
                tf.fill(tf.concat([[parts.n_explained], shape], 0), INITIAL_ALPHA))
            parts.beta = tf.placeholder(tf.float32, (), name="beta")
            parts.learning_rate = tf.placeholder(tf.float32, (), name="learning_rate")
            parts.information_scale = tf.placeholder(tf.float32, (), name="information_scale")

    def compute_output_shape(self, input_shape):
        """Returns ``input_shape``: the bottleneck keeps the feature's shape."""
        return input_shape

    def call(self, inputs, **kwargs):
        """Returns the identity of ``inputs``, or the noisy feature when the flow is restricted.

        The flow is restricted inside :meth:`analyze` and :meth:`restrict_flow`.
        """
        parts = self._tf
        restricted = tf.logical_or(parts.analyzing, parts.restrict_flow)
        branch_alpha = []
        outputs = cond(restricted, lambda: self._restricted_feature(inputs, branch_alpha),
                          lambda: tf.identity(inputs))
        outputs.set_shape(inputs.shape)
        self._calls.append(_Call(inputs, outputs, branch_alpha[0]))
        return outputs

    def _lambdas(self):
        """Returns ``lambda`` and ``1 - lambda`` from the current alpha, blurred."""
        alpha = self._tf.alpha.read_value()
        # 1 - lambda is blurred from sigmoid(-alpha) (accurate where lambda rounds to 1); both
        # go through one blur, stacked on the batch axis.
        both = ops.smooth(tf.concat([tf.sigmoid(alpha), tf.sigmoid(-alpha)], 0),
                          [m.read_value() for m in self._tf.smoothing])
        lam, one_minus_lam = tf.split(both, 2)
        return alpha, lam, one_minus_lam

    def _std(self):
        return tf.maximum(self._tf.std.read_value(), self._tf.min_std.read_value())

    def _restricted_feature(self, feature, branch_alpha):
        parts = self._tf
        # Variables are read inside the branch, so that the identity branch never reads them.
        # Here 1 - lambda only weighs the noise, so the subtraction is accurate enough (the
        # capacity, which takes its log, blurs sigmoid(-alpha) instead).
        alpha = self._tf.alpha.read_value()
        branch_alpha.append(alpha)
        lam = ops.smooth(tf.sigmoid(alpha), [m.read_value() for m in self._tf.smoothing])
        one_minus_lam = 1. - lam
        # Rows: n explained samples (or n inputs while restrict_flow is on) x noise samples.
        # lambda broadcasts over the noise samples; alpha of one row over all inputs.
        n_alpha, n_feature = tf.shape(lam)[0], tf.shape(feature)[0]
        check = tf.Assert(
            tf.logical_or(tf.equal(n_alpha, 1), tf.equal(n_alpha, n_feature)),
            ["IBALayer: the flow is restricted with the alpha of the last analyze, which "
             "explained", n_alpha, "sample(s); the model was run on", n_feature,
             "sample(s). Run it on 1 sample or on as many as were analyzed."])
        # Z = lambda * R + (1 - lambda) * (mean + std * eps), passed neurons keep R, inactive
        # ones give 0. Everything but the noise is folded into two per-sample terms, so only
        # two operations (and their gradients) touch the noise-sized tensors:
        # Z = offset + scale * eps.
        passed = parts.pass_mask.read_value()
        active = parts.active.read_value()
        restricted = 1. - passed
        offset = active * (passed * feature + restricted * (
            lam * feature + one_minus_lam * parts.mean.read_value()))
        scale = active * restricted * one_minus_lam * self._std()
        shape = list(self._feature_shape)
        per_sample = [-1, 1] + shape
        # While analyzing, the samples of a batch share the standard-normal draws: each sample
        # still gets `batch_size` fresh draws per step, so its optimisation has exactly the
        # distribution of a single analysis, and drawing the noise (which costs more than the
        # small models' tails) is paid once per step, not once per sample.
        noise_rows = tf.where(parts.analyzing, 1, n_feature)
        with tf.control_dependencies([check]):
            # the raw op: tf.random.normal would add a multiply and an add of the full size
            noise = tf.raw_ops.RandomStandardNormal(
                shape=tf.stack([noise_rows, parts.noise_samples] + shape), dtype=tf.float32)
        noisy = tf.reshape(offset, per_sample) + tf.reshape(scale, per_sample) * noise
        return tf.reshape(noisy, [-1] + shape)

    def get_config(self):
        """Returns the layer config: the keras options and the default hyperparameters."""
        config = super().get_config()
        config.update(self._defaults)
        return config

    # ------------------------------------------------------------------ losses
    def _require_attached(self):
        if not self.built or not self._calls:
            raise RuntimeError("The IBALayer is not part of a model yet: add it to a model "
                               "(or call it on a tensor) first.")

    def _call_for(self, tensor, what):
        self._require_attached()
        for layer_call in reversed(self._calls):
            if depends_on(tensor, layer_call.outputs):
                return layer_call
        raise ValueError("The {} {} does not depend on this IBALayer's output; give a tensor "
                         "computed after the bottleneck.".format(what, tensor.name))

    def set_classification_loss(self, logits, optimizer_cls=tf.train.AdamOptimizer):
        """Uses the softmax cross-entropy of ``logits`` for a target class as the model loss.

        Args:
            logits: the model's logits tensor ``(batch, classes)``, e.g. ``model.output``. Must
                not be a softmax output (see :func:`model_wo_softmax`).
            optimizer_cls: only ``tf.train.AdamOptimizer`` is supported; the optimisation runs
                a graph-built Adam with the same update rule.

        Returns:
            tf.Tensor: the target placeholder (int, shape ``(n,)``): feed the explained class
            in :meth:`analyze`, a scalar or one per explained sample.
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
        self._require_attached()
        with tf.name_scope(self.name + "_loss"):
            target = tf.placeholder(tf.int32, (None,), name="target")
            per_row = tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=ops.repeat_rows(target, self._tf.noise_samples), logits=logits)
        self._set_loss(per_row, optimizer_cls, target=target)
        return target

    def set_model_loss(self, model_loss, optimizer_cls=tf.train.AdamOptimizer):
        """Sets the model loss of the objective ``model_loss + beta * capacity_mean``.

        Args:
            model_loss (tf.Tensor): either a vector with one loss per row of the model's batch
                (``(n * batch_size,)``; allows explaining several samples at once) or a scalar
                (its mean; then :meth:`analyze` takes one sample at a time).
            optimizer_cls: only ``tf.train.AdamOptimizer`` is supported.

        Example:
            >>> # explain a regression output: keep the prediction close to its target
            >>> y = tf.placeholder(tf.float32, [None])
            >>> iba.set_model_loss(tf.square(model.output[:, 0] - y))
        """
        if not isinstance(model_loss, tf.Tensor):
            raise TypeError("model_loss must be a tf.Tensor, got {!r}."
                            .format(type(model_loss).__name__))
        if model_loss.shape.ndims not in (0, 1):
            raise ValueError("model_loss must be a scalar or one value per row; {} has shape "
                             "{}.".format(model_loss.name, model_loss.shape))
        self._set_loss(model_loss, optimizer_cls)

    def _set_loss(self, model_loss, optimizer_cls, target=None):
        if optimizer_cls not in (None, tf.train.AdamOptimizer):
            raise ValueError("Only tf.train.AdamOptimizer is supported as optimizer_cls, got {!r}."
                             .format(optimizer_cls))
        layer_call = self._call_for(model_loss, "loss")
        parts = self._tf
        feature = layer_call.inputs
        bypass = bypassing_tensors(layer_call.outputs, model_loss, feature)
        if any(tensor is feature for tensor in bypass):
            raise ValueError(
                "The IBALayer's input {} is also read around the layer (a skip connection "
                "starts there), so the loss would see it both restricted and not. Put the "
                "IBALayer after a layer inside the branch, or explain the model with IBACopy, "
                "which restricts every use of the feature.".format(feature.name))
        n_explained = tf.shape(feature)[0]
        with tf.name_scope(self.name + "_optimizer"):
            alpha, lam, one_minus_lam = self._lambdas()
            normalized = (feature - parts.mean.read_value()) / self._std()
            per_neuron = ops.capacity(lam, one_minus_lam, normalized)
            ignored = tf.maximum(parts.pass_mask.read_value(), 1. - parts.active.read_value())
            per_neuron = per_neuron * (1. - ignored)
            neuron_axes = list(range(1, len(self._feature_shape) + 1))
            information = tf.reduce_sum(per_neuron, neuron_axes) * parts.information_scale
            if model_loss.shape.ndims == 1:
                per_sample = tf.reduce_mean(
                    tf.reshape(model_loss, [n_explained, parts.noise_samples]), axis=1)
            else:
                per_sample = model_loss
            # A sum over samples: each sample's alpha gets exactly its own gradient.
            total = tf.reduce_sum(per_sample + parts.beta * information)
            # alpha is read twice: for the noisy feature (in the layer) and for the capacity.
            through_model, through_capacity = tf.gradients(total, [layer_call.alpha, alpha])
            if through_model is None:
                raise ValueError("The loss {} does not depend on the bottleneck.".format(
                    model_loss.name))
            gradient = through_model + through_capacity
            gradient = tf.where(tf.is_finite(gradient), gradient, tf.zeros_like(gradient))
            step, reset_adam = ops.adam_update(parts.alpha, gradient, parts.learning_rate)
            reset = tf.group(parts.reset_alpha, reset_adam(parts.reset_alpha))
        self._loss = dict(
            call=layer_call, target=target,
            bypass=bypass, per_row=model_loss.shape.ndims == 1, step=step,
            reset=reset, capacity=per_neuron,
            report=dict(alpha=alpha, capacity=per_neuron, model_loss=per_sample,
                        information_loss=information, loss=total, alpha_gradient=gradient,
                        **{"lambda": lam}))

    # ------------------------------------------------------------------ statistics
    @property
    def estimator(self):
        """The WelfordEstimator that :meth:`fit` fills."""
        return self._estimator

    def _feature_tensor(self):
        if self._loss is not None:
            return self._loss["call"].inputs
        self._require_attached()
        return self._calls[-1].inputs

    def fit(self, feed_dict, session=None, run_kwargs=None):
        """Adds the feature maps computed from ``feed_dict`` to the mean/std estimate.

        Ensure your model is in inference mode (Keras: the default learning phase).

        Example:
            >>> iba.fit({model.input: images})
        """
        values = self._feature_session(session).run(self._feature_tensor(), feed_dict=feed_dict,
                                                    **(run_kwargs or {}))
        self._estimator.update(values)

    def _bottleneck_session(self, session):
        """The session that holds the bottleneck's variables."""
        return resolve_session(session)

    def _feature_session(self, session):
        """The session that computes the feature map from the model inputs."""
        return resolve_session(session)

    def fit_generator(self, generator, n_samples=5000, progbar=True, session=None,
                      run_kwargs=None):
        """Estimates the feature mean/std from a generator of ``feed_dict`` s.

        Args:
            generator: yields feed_dicts with the inputs of all placeholders.
            n_samples (int): stop once this many samples were seen.
            progbar (bool): show a progress bar.
            session (tf.Session): session to use; None uses the default/Keras session.
            run_kwargs (dict): extra keyword arguments of ``session.run``.
        """
        session = self._feature_session(session)
        start = self._estimator.n_samples()
        with get_tqdm()(total=n_samples, disable=not progbar, desc="Estimating",
                        unit="sample") as bar:
            for feed_dict in generator:
                self.fit(feed_dict, session=session, run_kwargs=run_kwargs)
                seen = self._estimator.n_samples() - start
                bar.update(min(seen, n_samples) - bar.n)
                if seen >= n_samples:
                    break

    def _statistics(self):
        """Returns (mean, std, active) as float32 arrays, checked."""
        if self._feature_mean is not None:
            mean, std = self._feature_mean, self._feature_std
            active = self._feature_active if self._feature_active is not None else np.ones_like(
                mean)
            origin = "feature_mean/feature_std"
        elif self._estimator.n_samples() >= 2:
            mean, std = self._estimator.mean(), self._estimator.std()
            active = self._feature_active if self._feature_active is not None else \
                self._estimator.active_neurons()
            origin = "the estimator"
        else:
            raise RuntimeError(
                "IBALayer has no feature statistics ({} sample(s) fitted): call fit(...) or "
                "fit_generator(...) with at least 2 samples first, or pass feature_mean and "
                "feature_std.".format(self._estimator.n_samples()))
        for name, value in (("mean", mean), ("std", std), ("active", active)):
            if np.shape(value) != self._feature_shape:
                raise ValueError(
                    "The feature {} from {} has shape {}, but the feature map at this layer has "
                    "shape {}.".format(name, origin, np.shape(value), self._feature_shape))
            bad = np.size(value) - np.count_nonzero(np.isfinite(value))
            if bad:
                raise ValueError(
                    "The feature {} from {} has {} NaN/inf value(s): the model produced "
                    "non-finite features; reset the estimator and fit it on valid inputs."
                    .format(name, origin, bad))
        return (np.asarray(mean, np.float32), np.asarray(std, np.float32),
                np.asarray(active, np.float32))

    # ------------------------------------------------------------------ analysis
    def _configure_feed(self, settings, pass_mask):
        parts = self._tf
        mean, std, active = self._statistics()
        if pass_mask is None:
            pass_mask = np.zeros(self._feature_shape, np.float32)
        elif np.shape(pass_mask) != self._feature_shape:
            raise ValueError("pass_mask has shape {}, expected the feature shape {}."
                             .format(np.shape(pass_mask), self._feature_shape))
        values = [mean, std, active, np.asarray(pass_mask, np.float32),
                  settings["min_std"]] + [
            smoothing_matrix(size, settings["smooth_std"])
            for size in self._feature_shape[:-1]]
        return dict(zip(parts.values.values(), values))

    @contextlib.contextmanager
    def restrict_flow(self, session=None):
        """Context manager in which the layer adds noise with the alpha of the last analysis.

        Inside, the model's forward pass sees ``Z`` instead of the feature (one noise draw per
        row), e.g. to see how the prediction changes. The previous state is restored on exit,
        also when the body raises.

        Example:
            >>> capacity = iba.analyze({model.input: x, target: 3})
            >>> with iba.restrict_flow():
            ...     logits_restricted = model.predict(x)
        """
        if not self._analyzed:
            raise RuntimeError("restrict_flow uses the alpha found by analyze(): call "
                               "analyze(...) first.")
        session = self._bottleneck_session(session)
        parts = self._tf
        session.run(parts.initialize_flag)
        previous = session.run(parts.restrict_flow)
        session.run(parts.set_flag, {parts.flag_value: True})
        try:
            yield
        finally:
            session.run(parts.set_flag, {parts.flag_value: previous})

    def analyze(self, feed_dict, batch_size=None, steps=None, beta=None, learning_rate=None,
                min_std=None, smooth_std=None, normalize_beta=None, session=None,
                pass_mask=None, progbar=False):
        """Optimises the bottleneck for the inputs in ``feed_dict`` and returns the capacity.

        Args:
            feed_dict (dict): the model inputs of the explained sample(s) and the target
                (e.g. ``{model.input: x, target: 3}``).
            batch_size, steps, beta, learning_rate, min_std, smooth_std, normalize_beta:
                override the defaults for this call (see the class docs).
            session (tf.Session): session to run in; None uses the default/Keras session.
            pass_mask (np.ndarray): feature-shaped; where 1, the neuron always passes
                unchanged (e.g. zero padding of sequences) and counts no capacity.
            progbar (bool): show a progress bar over the steps.

        Returns:
            np.ndarray: capacity in nats per neuron after the last step, shape of the feature
            map ``(h, w, c)``; with the classification loss, ``n`` samples in ``feed_dict``
            give ``(n, h, w, c)``. Convert it with :func:`to_saliency_map`.
        """
        settings = self._analysis_settings(batch_size, steps, beta, learning_rate, min_std,
                                           smooth_std, normalize_beta)
        session = resolve_session(session)
        feed_dict = self._targets_as_rows(feed_dict)
        # skip connections around the bottleneck are computed once, like the feature
        bypass = self._loss["bypass"]
        values = session.run([self._loss["call"].inputs] + bypass, feed_dict)
        return self._optimize(session, values[0], feed_dict, settings, pass_mask, progbar,
                              repeated=dict(zip(bypass, values[1:])))

    def _targets_as_rows(self, feed_dict):
        """Returns ``feed_dict`` with a scalar target given as one row, the placeholder's rank."""
        target = self._loss["target"]
        return {key: np.atleast_1d(value) if key is target else value
                for key, value in feed_dict.items()}

    def _analysis_settings(self, batch_size, steps, beta, learning_rate, min_std, smooth_std,
                           normalize_beta):
        """Checks that a loss is set and returns the defaults merged with the overrides."""
        if self._loss is None:
            raise RuntimeError("No loss to explain: call set_classification_loss(logits) or "
                               "set_model_loss(loss) first.")
        return hyperparameters.merge(self._defaults, **dict(
            batch_size=batch_size, steps=steps, beta=beta, learning_rate=learning_rate,
            min_std=min_std, smooth_std=smooth_std, normalize_beta=normalize_beta))

    def _optimize(self, session, feature, feed_dict, settings, pass_mask, progbar,
                  repeated=None):
        """Runs the optimisation for the feature value(s) ``feature`` in ``session``.

        ``feed_dict`` holds whatever else the loss needs (the target, other inputs); the
        feature is fed at the layer's input, so the model before the bottleneck never reruns.
        ``repeated`` maps tensors with one row per sample to their values, fed with each row
        repeated once per noise sample.
        """
        parts, loss = self._tf, self._loss
        feed_dict = dict(feed_dict)
        n_explained = feature.shape[0]
        if n_explained != 1 and not loss["per_row"]:
            raise ValueError(
                "feed_dict holds {} samples, but a scalar model loss explains one sample at a "
                "time: pass one sample, or give set_model_loss one loss per row.".format(
                    n_explained))
        if loss["target"] is not None:
            if loss["target"] not in feed_dict:
                raise ValueError("The feed_dict lacks the target: feed the placeholder returned "
                                 "by set_classification_loss with the explained class.")
            targets = np.atleast_1d(feed_dict[loss["target"]])
            if targets.ndim != 1 or targets.shape[0] not in (1, n_explained):
                raise ValueError("{} target(s) given for {} sample(s): give one target or one "
                                 "per sample.".format(targets.shape[0], n_explained))
            feed_dict[loss["target"]] = np.broadcast_to(targets, (n_explained,))
        configure = self._configure_feed(settings, pass_mask)
        configure[parts.n_explained] = n_explained
        session.run([parts.configure, loss["reset"], parts.initialize_flag], configure)

        n_neurons = float(np.prod(self._feature_shape))
        for tensor, value in (repeated or {}).items():
            batched = np.ndim(value) > 0 and np.shape(value)[0] == n_explained
            feed_dict[tensor] = np.repeat(value, settings["batch_size"], 0) if batched else value
        feed_dict.update({
            loss["call"].inputs: feature,
            parts.analyzing: True,
            parts.noise_samples: settings["batch_size"],
            parts.beta: settings["beta"],
            parts.learning_rate: settings["learning_rate"],
            parts.information_scale: 1. / n_neurons if settings["normalize_beta"] else 1.,
        })
        report_tensors = {name: loss["report"][name] for name in sorted(self._collected)}
        report = collections.OrderedDict()
        if report_tensors:
            report["init"] = session.run(report_tensors, feed_dict)
        for step in get_tqdm()(range(settings["steps"]), disable=not progbar, desc="IBA"):
            _, report[step] = session.run([loss["step"], report_tensors], feed_dict)
        capacity, report["final"] = session.run([loss["capacity"], report_tensors], feed_dict)
        self._report = report if report_tensors else None
        self._analyzed = True
        return capacity[0] if n_explained == 1 else capacity

    # ------------------------------------------------------------------ state
    def state_dict(self):
        """Returns the layer's state (estimator, statistics, defaults) as a picklable dict."""
        return dict(
            estimator=self._estimator.state_dict(),
            feature_mean=self._feature_mean, feature_std=self._feature_std,
            feature_active=self._feature_active, defaults=self.get_default())

    def load_state_dict(self, state):
        """Restores a state from :meth:`state_dict`; checks it against the feature shape.

        Raises:
            ValueError: if the state does not fit this layer (names the mismatch).
        """
        expected = {"estimator", "feature_mean", "feature_std", "feature_active", "defaults"}
        if not isinstance(state, dict) or set(state) != expected:
            raise ValueError("An IBALayer state must be a dict with the keys {}, as returned by "
                             "state_dict().".format(sorted(expected)))
        estimator_shape = np.shape(state["estimator"]["mean"]) if state["estimator"]["n"] else None
        if self.built:
            for name in ("feature_mean", "feature_std", "feature_active"):
                if state[name] is not None and np.shape(state[name]) != self._feature_shape:
                    raise ValueError("The state's {} has shape {}, but this layer's feature has "
                                     "shape {}.".format(name, np.shape(state[name]),
                                                        self._feature_shape))
            if estimator_shape is not None and estimator_shape != self._feature_shape:
                raise ValueError("The state's estimator was fitted on features of shape {}, but "
                                 "this layer's feature has shape {}.".format(
                                     estimator_shape, self._feature_shape))
        self.set_default(**state["defaults"])
        self._estimator.load_state_dict(state["estimator"])
        self._feature_mean = state["feature_mean"]
        self._feature_std = state["feature_std"]
        self._feature_active = state["feature_active"]
