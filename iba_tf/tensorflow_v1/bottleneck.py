"""The Per-Sample Bottleneck engine: its graph state and the noise injection.

:class:`Bottleneck` can be placed into any graph: it is given a feature shape, creates its
variables and placeholders in the current default graph, and :meth:`Bottleneck.restrict`
returns the restricted feature for a feature tensor. The objective built on top of it lives in
:mod:`.objective`, the session loop in :mod:`.optimization`. The Keras layer
(:class:`~iba_tf.IBALayer`) and the graph copy (:class:`~iba_tf.IBACopy`) both compose one.
"""
import collections

from .compat import tf, K, cond
from . import ops
from .graph import depends_on

__all__ = ["Bottleneck", "Application", "State", "INITIAL_ALPHA", "lambdas", "noise_terms",
           "noisy_feature", "draw_noise"]

INITIAL_ALPHA = 5.


class Application:
    """One place a bottleneck restricts a feature.

    Attributes:
        inputs (tf.Tensor): the feature tensor.
        outputs (tf.Tensor): the restricted feature (the identity unless the flow is
            restricted).
        alpha (tf.Tensor): alpha as read inside the restricted branch (the gradient of the
            model loss reaches alpha through it).
        seeds (tuple): the (seed, seed2) of its noise op; an in-graph loop draws with the same
            ones, so both give the same noise under a graph-level seed.
    """

    def __init__(self, inputs, outputs, alpha, seeds):
        self.inputs = inputs
        self.outputs = outputs
        self.alpha = alpha
        self.seeds = seeds


def _local_variable(name, initial, shape=None):
    # Not model weights: local variables stay out of model.get_weights() and saved models.
    return tf.Variable(initial, name=name, trainable=False, use_resource=True, shape=shape,
                       collections=[tf.GraphKeys.LOCAL_VARIABLES])


class State(collections.namedtuple("State", "mean std active pass_mask smoothing")):
    """What one analysis configures, as tensors: ``std`` is already clamped by ``min_std``."""


def lambdas(alpha, smoothing):
    """Returns ``lambda`` and ``1 - lambda`` for ``alpha``, blurred with ``smoothing``.

    ``1 - lambda`` is blurred from ``sigmoid(-alpha)`` (accurate where lambda rounds to 1,
    which the capacity's log needs); both go through one blur, stacked on the batch axis.
    """
    both = ops.smooth(tf.concat([tf.sigmoid(alpha), tf.sigmoid(-alpha)], 0), smoothing)
    return tf.split(both, 2)


def noise_terms(feature, state):
    """The per-sample terms of ``Z = base + lambda * signal + (1 - lambda) * spread * eps``.

    ``Z = lambda * R + (1 - lambda) * (mean + std * eps)``; passed neurons keep ``R``, inactive
    ones give 0. Folding all of that into three tensors that do not depend on alpha leaves only
    four operations per step outside the noise-sized ones (an in-graph loop computes the terms
    once per analysis).
    """
    restricted = state.active * (1. - state.pass_mask)
    base = state.active * state.pass_mask * feature + restricted * state.mean
    return base, restricted * (feature - state.mean), restricted * state.std


def draw_noise(rows, noise_samples, shape, seeds):
    """Standard-normal noise ``(rows, noise_samples, *shape)``, drawn anew at every run."""
    return ops.standard_normal(tf.stack([rows, noise_samples] + list(shape)), seeds)


def noisy_feature(terms, lam, noise):
    """``Z`` with one row per (sample, noise sample) from :func:`noise_terms` and the noise.

    ``lam`` has one row per sample (or one for all); the noise has one row per sample, or one
    that all samples share.
    """
    base, signal, spread = terms
    shape = noise.shape[2:].as_list()
    per_sample = [-1, 1] + shape
    # Here 1 - lambda only weighs the noise, so the subtraction is accurate enough.
    offset = tf.reshape(base + lam * signal, per_sample)
    scale = tf.reshape((1. - lam) * spread, per_sample)
    return tf.reshape(offset + scale * noise, [-1] + shape)


class Bottleneck:
    """The graph state of one Per-Sample Bottleneck and the noise injection it performs.

    Args:
        feature_shape (tuple): shape of one feature map (no batch axis), fully known.
        name (str): name scope of the bottleneck's ops.
        prior (bool): give the bottleneck a ``prior`` placeholder (InputIBA): a mask in [0, 1]
            per sample and neuron; the information term of the objective then counts only
            what passes beyond it (``ops.prior_capacity``).

    Attributes:
        feature_shape (tuple): as given.
        restrict_flow_flag: bool variable; while True, every application adds noise with the
            alpha of the last analysis (see ``restrict_flow``).
        analyzing: bool placeholder, True while an optimisation runs.
        noise_samples: int placeholder, noise samples per explained sample.
        alpha: the trained parameter, one row per explained sample.
        mean: the feature mean (a variable, like the next five).
        std: the feature std.
        active: the active-neuron flags.
        pass_mask: 1 where a neuron always passes.
        min_std: the lower bound of the std.
        smoothing: the blur matrices, one per spatial axis. One run of ``configure`` assigns
            the six from ``configuration``'s placeholders.
        beta: placeholder fed while optimising (as are the next two).
        learning_rate: Adam's learning rate.
        information_scale: ``1 / k`` with ``normalize_beta``, else 1.
        applications (list): the :class:`Application` of every :meth:`restrict` call.
        prior: ``(n, *feature_shape)`` placeholder of the prior mask (default: zeros, the
            plain objective), or None without ``prior``.
    """

    def __init__(self, feature_shape, name="bottleneck", prior=False):
        self.feature_shape = tuple(int(dim) for dim in feature_shape)
        self.applications = []
        shape = list(self.feature_shape)
        with tf.name_scope(name):
            self._make_flag()
            self.analyzing = tf.placeholder_with_default(False, (), name="analyzing")
            self.noise_samples = tf.placeholder_with_default(1, (), name="noise_samples")
            # One row per explained sample: the number of rows changes between analyses.
            self.alpha = _local_variable("alpha", tf.fill([1] + shape, INITIAL_ALPHA),
                                         tf.TensorShape([None] + shape))
            self.mean = _local_variable("mean", tf.zeros(shape))
            self.std = _local_variable("std", tf.ones(shape))
            self.active = _local_variable("active", tf.ones(shape))
            self.pass_mask = _local_variable("pass_mask", tf.zeros(shape))
            self.min_std = _local_variable("min_std", tf.constant(0.01))
            self.smoothing = [_local_variable("smoothing_{}".format(axis), tf.eye(size))
                              for axis, size in enumerate(shape[:-1])]
            self._make_configuration(shape)
            self.beta = tf.placeholder(tf.float32, (), name="beta")
            self.learning_rate = tf.placeholder(tf.float32, (), name="learning_rate")
            self.information_scale = tf.placeholder(tf.float32, (), name="information_scale")
            self.prior = tf.placeholder_with_default(
                tf.zeros([1] + shape), [None] + shape, name="prior") if prior else None

    def _make_flag(self):
        # The forward pass reads this flag, so it must be initialised before the model first
        # runs: a Keras variable is, by Keras' session (and by global_variables_initializer).
        # The other variables are read only while the flow is restricted.
        self.restrict_flow_flag = K.variable(False, dtype="bool", name="restrict_flow")
        self.initialize_flag = cond(
            tf.is_variable_initialized(self.restrict_flow_flag), tf.no_op,
            lambda: tf.group(self.restrict_flow_flag.initializer))
        self.flag_value = tf.placeholder(tf.bool, (), name="restrict_flow_value")
        self.set_flag = self.restrict_flow_flag.assign(self.flag_value)

    def _make_configuration(self, shape):
        """One run assigns the statistics and settings (``configure``) and resets alpha."""
        assigned = [self.mean, self.std, self.active, self.pass_mask, self.min_std]
        assigned += self.smoothing
        self.configuration = collections.OrderedDict(
            (variable, tf.placeholder(tf.float32, variable.shape)) for variable in assigned)
        self.n_explained = tf.placeholder(tf.int32, (), name="n_explained")
        self.configure = tf.group(*[variable.assign(value)
                                    for variable, value in self.configuration.items()])
        self.reset_alpha = self.alpha.assign(
            tf.fill(tf.concat([[self.n_explained], shape], 0), INITIAL_ALPHA))
        self.alpha_value = tf.placeholder(tf.float32, [None] + shape, name="alpha_value")
        self.set_alpha = self.alpha.assign(self.alpha_value)
        self._saved = [self.alpha] + assigned
        self._reads = [variable.read_value() for variable in self._saved]

    def snapshot(self, session):
        """Returns the values of alpha and the configuration, for :meth:`restore`."""
        return dict(zip(self._saved, session.run(self._reads)))

    def restore(self, session, snapshot):
        """Assigns the values of :meth:`snapshot` again (after a failed analysis)."""
        feed = {self.configuration[v]: value for v, value in snapshot.items()
                if v is not self.alpha}
        feed[self.alpha_value] = snapshot[self.alpha]
        session.run([self.configure, self.set_alpha], feed)

    # ------------------------------------------------------------------ the restricted feature
    def restrict(self, feature, alpha=None):
        """Returns ``feature``, or ``Z`` while analysing or while the flow is restricted.

        Builds the ops once per call; the branch is chosen at run time, so the identity branch
        never reads the bottleneck's variables.

        Args:
            feature (tf.Tensor): the feature map ``(n, *feature_shape)``.
            alpha (tf.Tensor): ``(n, *feature_shape)`` alpha that replaces the ``alpha``
                variable (the Readout Bottleneck predicts it); None reads the variable.
        """
        restricted = tf.logical_or(self.analyzing, self.restrict_flow_flag)
        branch_alpha = []
        seeds = tuple(seed or 0 for seed in tf.random.get_seed(None))
        outputs = cond(restricted,
                       lambda: self._noisy_feature(feature, branch_alpha, seeds, alpha),
                          lambda: tf.identity(feature))
        outputs.set_shape(feature.shape)
        self.applications.append(Application(feature, outputs, branch_alpha[0], seeds))
        return outputs

    def state(self):
        """The configured :class:`State`, read from the variables."""
        return State(self.mean.read_value(), self.clamped_std(), self.active.read_value(),
                     self.pass_mask.read_value(), [m.read_value() for m in self.smoothing])

    def fed_state(self):
        """The :class:`State` straight from ``configuration``'s placeholders.

        Ops that run together with ``configure`` use it, so they need not wait for (or
        read) the variables.
        """
        fed = self.configuration
        return State(fed[self.mean], tf.maximum(fed[self.std], fed[self.min_std]),
                     fed[self.active], fed[self.pass_mask], [fed[m] for m in self.smoothing])

    def lambdas(self, alpha=None):
        """Returns ``alpha``, ``lambda`` and ``1 - lambda`` from the current alpha, blurred.

        A given ``alpha`` tensor replaces the variable (see :meth:`restrict`).
        """
        alpha = self.alpha.read_value() if alpha is None else alpha
        lam, one_minus_lam = lambdas(alpha, [m.read_value() for m in self.smoothing])
        return alpha, lam, one_minus_lam

    def clamped_std(self):
        """The feature std, clamped from below by ``min_std``."""
        return tf.maximum(self.std.read_value(), self.min_std.read_value())

    def _noisy_feature(self, feature, branch_alpha, seeds, alpha=None):
        alpha = self.alpha.read_value() if alpha is None else tf.identity(alpha)
        branch_alpha.append(alpha)
        state = self.state()
        lam = ops.smooth(tf.sigmoid(alpha), state.smoothing)
        # Rows: n explained samples (or n inputs while restrict_flow is on) x noise samples.
        # lambda broadcasts over the noise samples; alpha of one row over all inputs.
        n_alpha, n_feature = tf.shape(lam)[0], tf.shape(feature)[0]
        check = tf.Assert(
            tf.logical_or(tf.equal(n_alpha, 1), tf.equal(n_alpha, n_feature)),
            ["The flow is restricted with the alpha of the last analyze, which explained",
             n_alpha, "sample(s); the model was run on", n_feature,
             "sample(s). Run it on 1 sample or on as many as were analyzed."])
        # While analyzing, the samples of a batch share the standard-normal draws: each sample
        # still gets `batch_size` fresh draws per step, so its optimisation has exactly the
        # distribution of a single analysis, and drawing the noise (which costs more than the
        # small models' tails) is paid once per step, not once per sample.
        noise_rows = tf.where(self.analyzing, 1, n_feature)
        with tf.control_dependencies([check]):
            noise = draw_noise(noise_rows, self.noise_samples, self.feature_shape, seeds)
        return noisy_feature(noise_terms(feature, state), lam, noise)

    def application_for(self, tensor, what):
        """Returns the latest application that ``tensor`` is computed from.

        Raises:
            ValueError: if ``tensor`` does not depend on any application's output.
        """
        for application in reversed(self.applications):
            if depends_on(tensor, application.outputs):
                return application
        raise ValueError("The {} {} does not depend on this IBALayer's output; give a tensor "
                         "computed after the bottleneck.".format(what, tensor.name))
