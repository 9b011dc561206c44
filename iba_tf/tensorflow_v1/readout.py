"""IBAReadout: the Readout Bottleneck for Keras models, on a copy of the model's tail.

A small readout network (:mod:`.readout_network`) predicts the bottleneck's alpha from the
feature maps of several "readout layers". One explanation costs a nested pass of the unchanged
model (in its own session: the attach layer's feature, the readout maps) and one run of the
readout network in the copy; training adds the restricted pass through the copied tail. The
user's model and graph are never edited: the tail after the attach layer is copied as for
:class:`~iba_tf.IBACopy` (:func:`~.copy.import_tail`).
"""
import numpy as np

from .compat import keras, require_graph_mode, tf
from .. import hyperparameters
from ..smoothing import smoothing_matrix
from ..utils import get_tqdm
from ..welford import WelfordEstimator
from .bottleneck import Bottleneck
from .copy import import_tail
from .graph import Tail
from .models import layer_output
from .objective import classification_loss, neuron_capacity
from ..readout_spec import initial_weights, saliency_maps  # noqa: F401 (re-exported)
from .readout_network import ReadoutNetwork
from .session import resolve_session
from .transfer import copy_variables
from . import readout_data, readout_io, readout_training

__all__ = ["IBAReadout"]

MODES = ("saliency", "capacity")
DEFAULTS = dict(beta=10., learning_rate=1e-2, min_std=0.01, smooth_std=1., normalize_beta=True)


class IBAReadout:
    """The Readout Bottleneck: a readout network trained once predicts alpha for any input.

    The readout sees no class index: it sees the class only through what its readout layers
    carry (e.g. the logits), as in the reference. It is trained with the Per-Sample
    Bottleneck's objective, ``model loss for the label + beta * mean capacity``.

    Args:
        attach_layer (str or keras.layers.Layer): the layer after which the flow is restricted; its
            output must be a feature map ``(h, w, c)``.
        readout_layers (list): layers (names or layers) whose outputs the readout network
            reads: feature maps (resized to the attach layer's resolution) or vectors such as
            the logits (broadcast); before or after the attach layer.
        model (keras.Model): the model; its output must be the logits.
        beta, learning_rate, min_std, smooth_std, normalize_beta: hyperparameters of the
            objective and of Adam. The reference trains with lr 1e-5 for 10 epochs over
            ImageNet (about 400,000 steps); alpha starts at 5 and must move by several units,
            so on data sets of a few thousand images the default 1e-2 is what learns within
            a few epochs.
        seed (int): seed of the readout network's initial weights.
        session (tf.Session): the model's session; None uses the default (or Keras') session.

    Example:
        >>> readout = IBAReadout("conv2", ["conv1", "conv2", "conv3", "logits"], model)
        >>> readout.estimate(train_batches, n_samples=2000)
        >>> readout.train(train_batches, epochs=3, steps_per_epoch=60)
        >>> saliency = readout.analyze(x_test[:16])          # (16, 28, 28), bits per pixel
        >>> readout.save("readout.npz")
    """

    def __init__(self, attach_layer, readout_layers, model, estimator_type=None, seed=0,
                 session=None, **hyperparams):
        require_graph_mode("IBAReadout")
        if estimator_type not in (None, WelfordEstimator):
            raise ValueError("estimator_type must be None or WelfordEstimator, got {!r}."
                             .format(estimator_type))
        unknown = sorted(set(hyperparams) - set(DEFAULTS))
        if unknown:
            raise TypeError("IBAReadout got unexpected keyword argument(s) {}; the "
                            "hyperparameters are {}.".format(unknown, sorted(DEFAULTS)))
        self._settings = hyperparameters.merge(DEFAULTS, **hyperparams)
        if not isinstance(model, keras.Model) or len(model.inputs) != 1 or \
                len(model.outputs) != 1:
            raise ValueError("IBAReadout needs a keras.Model with one input and one output "
                             "(the logits), got {!r}.".format(model))
        self.model = model
        self.seed = int(seed)
        self.attach_layer = readout_data.layer_name(model, attach_layer, "attach layer")
        if isinstance(readout_layers, (str, keras.layers.Layer)):
            readout_layers = [readout_layers]
        self.readout_layers = [readout_data.layer_name(model, layer, "readout layer")
                               for layer in readout_layers]
        if not self.readout_layers:
            raise ValueError("readout_layers is empty: name at least one layer, e.g. the "
                             "attach layer and the logits layer.")
        self._feature = layer_output(model, model.get_layer(self.attach_layer))
        self._readouts = [layer_output(model, model.get_layer(name))
                          for name in self.readout_layers]
        self.feature_shape = readout_data.check_shapes(self)
        self._estimators = {name: WelfordEstimator() for name in self._tensor_names()}
        self.steps_trained = 0
        self._configured = False
        with model.input.graph.as_default():
            self._session = resolve_session(session)
        self._build_copy()

    # ------------------------------------------------------------------ building
    def _tensor_names(self):
        names = [self._feature.name] + [tensor.name for tensor in self._readouts]
        return list(dict.fromkeys(names))

    def _build_copy(self):
        tail = Tail(self._feature, [self.model.output])
        self._tail = tail
        self.graph = tf.Graph()
        with self.graph.as_default():
            self._feature_input = tf.placeholder(tf.float32, (None,) + self.feature_shape,
                                                 name="feature")
            self.network = ReadoutNetwork(
                [tuple(t.shape[1:].as_list()) for t in self._readouts], self.feature_shape)
            self.bottleneck = Bottleneck(self.feature_shape, name="bottleneck")
            alpha = self.network.alpha
            restricted = self.bottleneck.restrict(self._feature_input, alpha)
            outputs, self._copy_fed, self._transfers = import_tail(
                tail, restricted, self.bottleneck.noise_samples)
            self.target, per_row = classification_loss(outputs[0], 1, "loss")
            self._build_objective(alpha, per_row)
            self._initialize = tf.group(tf.variables_initializer(tf.global_variables()),
                                        tf.variables_initializer(tf.local_variables()))
        self.copy_session = tf.Session(graph=self.graph)
        self.copy_session.run(self._initialize)
        self.copy_session.run(self.bottleneck.set_flag, {self.bottleneck.flag_value: True})
        self.reset_weights()
        self.update_variables()

    def _build_objective(self, alpha, per_row):
        bottleneck = self.bottleneck
        _, _, self.capacity = neuron_capacity(bottleneck, self._feature_input, alpha)
        information = tf.reduce_sum(self.capacity, [1, 2, 3]) * bottleneck.information_scale
        self.losses = {"model_loss": tf.reduce_mean(per_row),
                       "information_loss": tf.reduce_mean(information)}
        self.losses["loss"] = (self.losses["model_loss"]
                               + bottleneck.beta * self.losses["information_loss"])
        optimizer = tf.train.AdamOptimizer(bottleneck.learning_rate)
        self.train_op = optimizer.minimize(self.losses["loss"], var_list=self.network.weights)
        self.reset_optimizer = tf.variables_initializer(optimizer.variables())

    # ------------------------------------------------------------------ state
    def update_variables(self):
        """Copies the model's current weights into the copied tail (after you edit them)."""
        copy_variables(self._transfers, self._session, self.copy_session)

    def reset_weights(self):
        """Restarts the readout network from its initial weights (alpha = 5 everywhere)."""
        in_channels = int(self.network.weights[0].shape[0])
        values = initial_weights(in_channels, self.feature_shape[-1], self.seed)
        self.set_weights(values)
        self.steps_trained = 0

    def get_weights(self):
        """Returns the readout network's weights (list of six numpy arrays)."""
        return self.copy_session.run(self.network.weights)

    def set_weights(self, values):
        """Sets the readout network's weights (from :meth:`get_weights`) and resets Adam."""
        self.copy_session.run([self.network.set_weights_op, self.reset_optimizer],
                              self.network.weights_feed(values))

    def get_settings(self):
        """Returns the hyperparameters as a dict."""
        return dict(self._settings)

    @property
    def estimators(self):
        """The WelfordEstimator of each needed tensor (attach layer, readout layers), by name."""
        return dict(self._estimators)

    def reset_estimate(self):
        """Forgets the statistics of the attach layer and of every readout layer."""
        for estimator in self._estimators.values():
            estimator.reset()
        self._configured = False

    # ------------------------------------------------------------------ the nested pass
    def _original_values(self, x, training=True):
        """One run of the unchanged model: [feature, *readout maps, *fed values of the copy].

        Each distinct tensor is fetched once (the attach layer is often a readout layer too);
        the fed values are only needed by the restricted pass (``training``).
        """
        tensors = [self._feature] + self._readouts + (self._tail.fed if training else [])
        names = list(dict.fromkeys(tensor.name for tensor in tensors))
        values = dict(zip(names, self._session.run(names, {self.model.input: x})))
        return [values[tensor.name] for tensor in tensors]

    def _feed(self, x, training=True):
        """The copy's feed for ``x``: the nested pass's values (and the fed values to train)."""
        placeholders = [self._feature_input] + self.network.inputs
        if training:
            placeholders += self._copy_fed
        return dict(zip(placeholders, self._original_values(x, training)))

    def estimate(self, data, n_samples=5000, progbar=True):
        """Fits the statistics of the attach layer and of every readout layer.

        Args:
            data: batches as :meth:`train` takes them (only the inputs are used), or an array
                of inputs.
            n_samples (int): stop once this many samples were seen.
            progbar (bool): show a progress bar.
        """
        start = min(e.n_samples() for e in self._estimators.values())
        with get_tqdm()(total=n_samples, disable=not progbar, desc="Estimating",
                        unit="sample") as bar:
            for batch in readout_data.batches(data, None):
                x = readout_data.inputs_of(self, batch)
                names = self._tensor_names()
                values = self._session.run(names, {self.model.input: x})
                self._configured = False
                for name, value in zip(names, values):
                    self._estimators[name].update(value)
                seen = self._estimators[names[0]].n_samples() - start
                bar.update(min(seen, n_samples) - bar.n)
                if seen >= n_samples:
                    break
        return self

    def _configure(self):
        """Assigns the statistics and settings to the copy; raises if there are none.

        Runs again only after the statistics or settings changed (``_configured`` is reset).
        """
        if self._configured:
            return
        settings = self._settings
        feature_stats = readout_data.statistics(self, self._feature.name)
        feed = configuration_feed(self.bottleneck, feature_stats, settings)
        readout_stats = [readout_data.statistics(self, t.name)[:2] for t in self._readouts]
        feed.update(self.network.statistics_feed(readout_stats, settings["min_std"]))
        n_neurons = float(np.prod(self.feature_shape))
        self._run_feed = {
            self.bottleneck.beta: settings["beta"],
            self.bottleneck.learning_rate: settings["learning_rate"],
            self.bottleneck.information_scale:
                1. / n_neurons if settings["normalize_beta"] else 1.}
        self.copy_session.run([self.bottleneck.configure, self.network.configure], feed)
        self._configured = True

    # ------------------------------------------------------------------ training
    def train(self, data, epochs=1, steps_per_epoch=None, validation_data=None,
              validation_steps=None, progbar=True):
        """Trains the readout network on batches of inputs and labels.

        Args:
            data: a ``keras.utils.Sequence`` or an iterable/generator of batches ``(x, y)``
                (``y``: class indices or one-hot rows), or a tuple of arrays ``(x, y)``
                (batches of 32). Batches of inputs only are explained for the model's own
                prediction.
            epochs (int): passes over the data.
            steps_per_epoch (int): batches per epoch; needed for generators without a length.
            validation_data, validation_steps: as ``data`` and ``steps_per_epoch``; the
                validation loss is shown after every epoch.
            progbar (bool): show a progress bar with the loss and its parts.

        Returns:
            list: one dict per epoch with the mean ``loss``, ``model_loss``,
            ``information_loss`` (and ``val_loss``).

        Raises:
            FloatingPointError: if the loss turns NaN/inf; says at which step, and the weights
                are those after the last good step.
        """
        self._configure()
        return readout_training.train(self, data, epochs, steps_per_epoch, validation_data,
                                      validation_steps, progbar)

    def fit_generator(self, generator, steps_per_epoch=None, epochs=1, validation_data=None,
                      validation_steps=None, verbose=1):
        """Keras-style alias of :meth:`train` (``verbose=0`` hides the progress bar)."""
        return self.train(generator, epochs, steps_per_epoch, validation_data,
                          validation_steps, progbar=bool(verbose))

    def _step_feed(self, batch):
        x, y = readout_data.inputs_and_targets(self, batch)
        feed = self._feed(x)
        feed.update(self._run_feed)
        feed[self.target] = y
        return feed

    # ------------------------------------------------------------------ analysis
    def analyze(self, x, mode="saliency", batch_size=64):
        """Explains a batch of inputs in one pass (no optimisation per input).

        Args:
            x (np.ndarray): inputs ``(n, *input_shape)``.
            mode (str): ``"saliency"``: bits per pixel at the input's resolution ``(n, H, W)``;
                ``"capacity"``: nats per neuron of the attach layer ``(n, h, w, c)``.
            batch_size (int): inputs per session run.

        Raises:
            RuntimeError: if the readout was not trained (or loaded) yet.
        """
        if mode not in MODES:
            raise ValueError("mode must be one of {}, got {!r}.".format(MODES, mode))
        if not self.steps_trained:
            raise RuntimeError("The readout network is not trained: call train(...) (or load "
                               "a trained readout with IBAReadout.load) before analyze.")
        x = readout_data.check_inputs(self, x)
        self._configure()
        capacity = np.concatenate([
            self.copy_session.run(self.capacity, self._feed(x[i:i + batch_size], False))
            for i in range(0, len(x), batch_size)])
        if mode == "capacity":
            return capacity
        return saliency_maps(capacity, x.shape[1:3])

    # ------------------------------------------------------------------ files
    def save(self, path):
        """Saves statistics, hyperparameters and readout weights to one ``.npz`` file.

        The file is written next to ``path`` first and moved into place, so an error never
        leaves a half-written file.
        """
        readout_io.save(self, path)

    def load_weights(self, path):
        """Restores a readout saved with :meth:`save` into this readout.

        Raises:
            ValueError: if the file was saved for another model, attach layer or readout
                layers (nothing is changed then).
        """
        readout_io.restore(self, readout_io.read(path))

    @classmethod
    def load(cls, path, model, session=None):
        """Creates the readout saved in ``path`` (by :meth:`save`) for ``model``.

        Example:
            >>> readout = IBAReadout.load("readout.npz", model)
            >>> saliency = readout.analyze(x)
        """
        return cls.from_saved(readout_io.read(path), model, session)

    @classmethod
    def from_saved(cls, saved, model, session=None):
        """Creates a readout from ``readout_io.read``'s (or ``from_arrays``') result."""
        config, path = saved["config"], saved["path"]
        readout_io.check_layers(model, config, path)
        readout = cls(config["attach_layer"], config["readout_layers"], model,
                      seed=config["seed"], session=session, **config["settings"])
        readout_io.restore(readout, saved)
        return readout


def configuration_feed(bottleneck, statistics, settings):
    """The feed of ``bottleneck.configure``: statistics, no passed neurons, min_std, blur."""
    mean, std, active = statistics
    shape = bottleneck.feature_shape
    values = [mean, std, active, np.zeros(shape, np.float32), settings["min_std"]]
    values += [smoothing_matrix(size, settings["smooth_std"]) for size in shape[:-1]]
    return dict(zip(bottleneck.configuration.values(), values))
