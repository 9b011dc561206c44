"""InputIBA's stage 2: a per-input Wasserstein GAN whose input mask is the input stage's prior.

After Zhang et al. (NeurIPS 2021, "InputIBA"; see ``docs/input_iba.md``). For each explained
input ``X`` a generator makes inputs

    X_G = m * X + (1 - m) * (mu_G + sigma_G * eps),     m = sigmoid(mask logits)

(``m``: one value per input pixel, shared by the channels; ``mu_G``, ``sigma_G``: one per input
channel; ``eps`` standard normal) and runs them through the head of the model (the ops from the
input to the feature layer, copied into a graph of its own; the user's graph is never edited),
giving features ``Z_G``. The "real" samples are the feature bottleneck's restricted features

    Z* = lambda* R + (1 - lambda*) (mean + std * eps_R)

(``lambda*``: the feature stage's final, blurred mask; ``R``: the feature; mean and std: the
feature statistics; drawn anew at every step). A small critic per input (a pointwise
convolution over the feature map and two dense layers; weights clipped to ``[-clip, clip]``)
is trained to tell them apart with the Wasserstein loss, ``critic_steps`` RMSprop steps per
generator step; the generator learns ``m``, ``mu_G`` and ``sigma_G`` so that ``Z_G`` looks like
``Z*``. The mask starts from the stage-1 map (divided by its peak, kept in
``[MASK_FLOOR, 1 - MASK_FLOOR]``); after training ``m`` is the prior of the input stage.

A batch of inputs is fitted in one graph: every variable (generator and critic) has one row
per input, so each input has its own GAN, and a step runs all of them at once.
"""
import numpy as np

from ..utils import get_tqdm
from .compat import tf
from .copy import import_tail
from .graph import Tail
from .session import resolve_session
from .transfer import copy_variables

__all__ = ["InputGAN", "MASK_FLOOR", "CRITIC_CHANNELS", "CRITIC_HIDDEN", "channel_statistics",
           "initial_logits"]

#: the initial mask is kept in [MASK_FLOOR, 1 - MASK_FLOOR] (finite logits)
MASK_FLOOR = 0.02
#: channels of the critic's pointwise convolution, units of its hidden dense layer
CRITIC_CHANNELS = 16
CRITIC_HIDDEN = 64
LEAK = 0.2
#: RMSprop's decay and epsilon (PyTorch's defaults, as the authors' code uses)
RMS_DECAY = 0.99
RMS_EPSILON = 1e-8


def _rows_variable(name, shape):
    """A resource variable with one row per fitted input (the count changes between fits)."""
    return tf.Variable(tf.zeros([1] + list(shape)), name=name, trainable=False,
                       use_resource=True, shape=tf.TensorShape([None] + list(shape)),
                       collections=[tf.GraphKeys.LOCAL_VARIABLES])


def channel_statistics(mean, std):
    """One mean and std per channel from per-pixel ones (the pooled spread), float32."""
    mean, std = np.asarray(mean, np.float64), np.asarray(std, np.float64)
    axes = tuple(range(mean.ndim - 1))
    channel_mean = mean.mean(axis=axes)
    spread = np.sqrt((np.square(std) + np.square(mean - channel_mean)).mean(axis=axes))
    return channel_mean.astype(np.float32), np.maximum(spread, 1e-6).astype(np.float32)


def initial_logits(masks):
    """Logits of ``masks`` (in [0, 1]) kept in ``[MASK_FLOOR, 1 - MASK_FLOOR]``."""
    masks = np.clip(np.asarray(masks, np.float64), MASK_FLOOR, 1. - MASK_FLOOR)
    return np.log(masks / (1. - masks)).astype(np.float32)


def _rmsprop(variables, gradients, rates):
    """RMSprop steps (PyTorch's form) on row variables; returns (update op, slot variables)."""
    updates, slots = [], []
    for variable, gradient, rate in zip(variables, gradients, rates):
        slot = _rows_variable(variable.op.name.split("/")[-1] + "_rms",
                              variable.shape[1:].as_list())
        square = slot.assign(RMS_DECAY * slot.read_value() + (1. - RMS_DECAY) *
                             tf.square(gradient))
        updates.append(variable.assign_sub(rate * gradient / (tf.sqrt(square) + RMS_EPSILON)))
        slots.append(slot)
    return tf.group(*updates), slots


class _Critic:
    """Per-input critics over flattened feature maps ``(n, samples, pixels * channels)``."""

    def __init__(self, feature_shape):
        self.channels = int(feature_shape[-1])
        self.pixels = int(np.prod(feature_shape[:-1]))
        shapes = [(self.channels, CRITIC_CHANNELS), (1, CRITIC_CHANNELS),
                  (self.pixels * CRITIC_CHANNELS, CRITIC_HIDDEN), (1, CRITIC_HIDDEN),
                  (CRITIC_HIDDEN, 1), (1, 1)]
        with tf.name_scope("critic"):
            self.variables = [_rows_variable(name, shape) for name, shape in zip(
                ("w1", "b1", "w2", "b2", "w3", "b3"), shapes)]
            # read once per run: both scores and the gradients use these reads
            self.values = [variable.read_value() for variable in self.variables]
        self.shapes = shapes

    def score(self, features):
        """The critic's score ``(n, samples)`` of each sample."""
        w1, b1, w2, b2, w3, b3 = self.values
        n = tf.shape(features)[0]
        hidden = tf.nn.leaky_relu(tf.matmul(tf.reshape(features, [n, -1, self.channels]), w1)
                                  + b1, LEAK)
        hidden = tf.reshape(hidden, [n, -1, self.pixels * CRITIC_CHANNELS])
        hidden = tf.nn.leaky_relu(tf.matmul(hidden, w2) + b2, LEAK)
        return (tf.matmul(hidden, w3) + b3)[..., 0]

    def initial_values(self, n, clip):
        """Glorot-uniform weights (within ``clip``) and zero biases for ``n`` critics."""
        values = []
        for shape in self.shapes:
            if shape[0] == 1:
                values.append(tf.zeros(tf.stack([n, 1, shape[1]])))
                continue
            limit = tf.minimum(float(np.sqrt(6. / sum(shape))), clip)
            values.append(tf.random.uniform(tf.stack([n, shape[0], shape[1]]), -limit, limit))
        return values


class InputGAN:
    """Fits the per-input GANs of InputIBA's stage 2 and returns their input masks.

    Args:
        model_input (tf.Tensor): the model's input (the first op of the head).
        feature (tf.Tensor): the feature tensor of stage 1 (the last op of the head).
        session (tf.Session): the model's session; None uses the default (Keras') session.
        config (tf.ConfigProto): config of the GAN graph's own session.

    The head's variables are copied from the model's session; call :meth:`update_variables`
    after changing the model's weights. A graph-level seed of the model's graph seeds the
    GAN's noise and critic initialisation: equal seeds and inputs give equal masks.

    Attributes:
        graph (tf.Graph): the GAN's graph (the head's copy, generators, critics, steps).
        session (tf.Session): its session.
        input_shape (tuple): the shape of one input.
        feature_shape (tuple): the shape of one feature map.
    """

    def __init__(self, model_input, feature, session=None, config=None):
        self._original_graph = model_input.graph
        self._model_input = model_input
        self._tail = Tail(model_input, [feature])
        if session is None:
            with self._original_graph.as_default():
                session = resolve_session()
        self._original_session = session
        self.input_shape = tuple(model_input.shape[1:].as_list())
        self.feature_shape = tuple(feature.shape[1:].as_list())
        self.graph = tf.Graph()
        self.graph.seed = self._original_graph.seed
        with self.graph.as_default(), tf.name_scope("input_gan"):
            self._build()
        self.session = tf.Session(graph=self.graph, config=config)
        self.update_variables()

    def _placeholders(self):
        spatial, channels = list(self.input_shape[:-1]), self.input_shape[-1]
        ones = [1] * len(spatial)
        feature = [None] + list(self.feature_shape)
        self.inputs = tf.placeholder(tf.float32, [None] + list(self.input_shape), name="inputs")
        self.samples = tf.placeholder(tf.int32, (), name="samples")
        self.initial = dict(
            mask=tf.placeholder(tf.float32, [None] + spatial + [1], name="initial_logits"),
            mean=tf.placeholder(tf.float32, [None] + ones + [channels], name="initial_mean"),
            std=tf.placeholder(tf.float32, [None] + ones + [channels], name="initial_std"))
        self.real = dict((name, tf.placeholder(tf.float32, shape, name=name)) for name, shape in (
            ("lambda", feature), ("feature", feature), ("mean", self.feature_shape),
            ("std", self.feature_shape), ("active", self.feature_shape)))
        self.rates = dict((name, tf.placeholder(tf.float32, (), name=name)) for name in (
            "learning_rate", "mask_learning_rate", "noise_learning_rate", "clip"))

    def _generator(self):
        """The generator's variables and the head's features of its inputs ``(n, s, D)``."""
        spatial, channels = list(self.input_shape[:-1]), self.input_shape[-1]
        ones = [1] * len(spatial)
        with tf.name_scope("generator"):
            self.mask_logits = _rows_variable("mask_logits", spatial + [1])
            self.noise_mean = _rows_variable("noise_mean", ones + [channels])
            self.noise_std = _rows_variable("noise_std", ones + [channels])
            self._generator_values = [v.read_value() for v in (
                self.mask_logits, self.noise_mean, self.noise_std)]
        logits, noise_mean, noise_std = self._generator_values
        n = tf.shape(self.inputs)[0]
        eps = tf.random.normal(tf.concat([[n, self.samples], self.input_shape], 0))
        mask = tf.expand_dims(tf.sigmoid(logits), 1)
        noise = tf.expand_dims(noise_mean, 1) + tf.expand_dims(noise_std, 1) * eps
        generated = mask * tf.expand_dims(self.inputs, 1) + (1. - mask) * noise
        outputs, self._fed, self._transfers = import_tail(
            self._tail, tf.reshape(generated, [-1] + list(self.input_shape)), self.samples)
        return tf.reshape(outputs[0], [n, self.samples, -1])

    def _real_features(self):
        """``Z*`` of the feature bottleneck, ``(n, samples, D)``, drawn anew at every run."""
        real = self.real
        n = tf.shape(real["feature"])[0]
        eps = tf.random.normal(tf.concat([[n, self.samples], self.feature_shape], 0))
        lam, feature = (tf.expand_dims(real[name], 1) for name in ("lambda", "feature"))
        noisy = lam * feature + (1. - lam) * (real["mean"] + real["std"] * eps)
        restricted = real["active"] * noisy + (1. - real["active"]) * feature
        return tf.reshape(restricted, [n, self.samples, -1])

    def _build(self):
        self._placeholders()
        fake = self._generator()
        critic = _Critic(self.feature_shape)
        fake_score = tf.reduce_mean(critic.score(fake), 1)
        real_score = tf.reduce_mean(critic.score(self._real_features()), 1)
        # the inputs' GANs share no variable: the sums' gradients are each GAN's own
        self.critic_loss = tf.reduce_sum(fake_score - real_score)
        self.generator_loss = -tf.reduce_sum(fake_score)
        rates = self.rates
        update, critic_slots = _rmsprop(
            critic.variables, tf.gradients(self.critic_loss, critic.values),
            [rates["learning_rate"]] * len(critic.variables))
        with tf.control_dependencies([update]):
            self.critic_step = tf.group(*[w.assign(tf.clip_by_value(
                w.read_value(), -rates["clip"], rates["clip"])) for w in critic.variables])
        generator = [self.mask_logits, self.noise_mean, self.noise_std]
        noise_rate = rates["noise_learning_rate"] * self.initial["std"]
        self.generator_step, generator_slots = _rmsprop(
            generator, tf.gradients(self.generator_loss, self._generator_values),
            [rates["mask_learning_rate"], noise_rate, noise_rate])
        self.mask = tf.sigmoid(self.mask_logits.read_value())[..., 0]
        self._reset(critic, critic_slots + generator_slots)

    def _reset(self, critic, slots):
        """Ops that start new GANs: the variables, then (in a second run) the slots."""
        n = tf.shape(self.initial["mask"])[0]
        initial = [self.initial[name] for name in ("mask", "mean", "std")]
        initial += critic.initial_values(n, self.rates["clip"])
        variables = [self.mask_logits, self.noise_mean, self.noise_std] + critic.variables
        self.reset = tf.group(*[v.assign(value) for v, value in zip(variables, initial)])
        self.reset_slots = tf.group(*[slot.assign(tf.zeros_like(variable.read_value()))
                                      for slot, variable in zip(
                                          slots, critic.variables + variables[:3])])

    def update_variables(self):
        """Copies the model's current weights into the head's copy."""
        local = {variable.op.name for variable in
                 self._original_graph.get_collection(tf.GraphKeys.LOCAL_VARIABLES)}
        copy_variables(self._transfers, self._original_session, self.session, local)

    def fit(self, X, initial_masks, restriction, feature, noise, settings, progbar=False):
        """Trains one GAN per input and returns their masks ``(n, *spatial)`` in [0, 1].

        Args:
            X (np.ndarray): the inputs ``(n, *input_shape)``.
            initial_masks (np.ndarray): ``(n, *spatial)`` in [0, 1]: the start of each mask.
            restriction (dict): the feature stage's ``last_restriction()`` for these inputs.
            feature (np.ndarray): their features ``(n, *feature_shape)``.
            noise (tuple): the generator's initial noise mean and std, one per channel
                (:func:`channel_statistics` of the inputs).
            settings (dict): the GAN settings (``input_prior.GAN_DEFAULTS``), checked.
            progbar (bool): a progress bar over the generator steps.
        """
        n = len(X)
        ones = (1,) * (len(self.input_shape) - 1)
        feed = {self.inputs: X, self.samples: settings["batch_size"],
                self.real["feature"]: feature, self.initial["std"]: np.broadcast_to(
                    noise[1], (n,) + ones + noise[1].shape[-1:])}
        feed.update((self.real[name], restriction[name])
                    for name in ("lambda", "mean", "std", "active"))
        feed.update((self.rates[name], settings[name]) for name in self.rates)
        if self._fed:
            values = self._original_session.run(self._tail.fed, {self._model_input: X})
            feed.update(zip(self._fed, values))
        start = dict(feed)
        start[self.initial["mask"]] = initial_logits(initial_masks)[..., None]
        start[self.initial["mean"]] = np.broadcast_to(noise[0], (n,) + ones + noise[0].shape)
        self.session.run(self.reset, start)
        self.session.run(self.reset_slots)
        for _ in get_tqdm()(range(settings["iterations"]), disable=not progbar, desc="GAN"):
            for _ in range(settings["critic_steps"]):
                self.session.run(self.critic_step, feed)
            self.session.run(self.generator_step, feed)
        return self.session.run(self.mask)
