"""IBAReadout: the Readout Bottleneck for PyTorch models.

The PyTorch port of :class:`iba_tf.IBAReadout`: a readout network (:mod:`.readout_network`)
trained once predicts the bottleneck's alpha from the feature maps of several readout layers,
so an explanation costs one nested pass of the model, no optimisation per input. It extends
:class:`~iba_tf.pytorch.IBA` (the same noise, blur, capacity, estimator and hooks); the
training loop lives in :mod:`.readout_training`, the framework-free parts (initial weights,
saliency maps) in :mod:`iba_tf.readout_spec`.
"""
import torch
from torch import nn

from ..readout_spec import saliency_maps
from .bottleneck import IBA
from .estimator import TorchWelfordEstimator
from .readout_network import ReadoutNetwork, check_readout
from . import readout_training

__all__ = ["IBAReadout"]

_MODES = ("saliency", "capacity")


def _check_layers(attach_layer, readout_layers, model):
    """Returns the readout layers as a tuple; raises for layers that are not in ``model``."""
    if not isinstance(model, nn.Module):
        raise TypeError("IBAReadout: model must be an nn.Module, got {!r}."
                        .format(type(model).__name__))
    if isinstance(readout_layers, nn.Module):
        readout_layers = [readout_layers]
    readout_layers = tuple(readout_layers)
    if not readout_layers:
        raise ValueError("IBAReadout: readout_layers is empty; give at least one layer, e.g. "
                         "the attach layer and the logits layer.")
    modules = list(model.modules())
    for what, layer in [("attach layer", attach_layer)] + [
            ("readout layer {}".format(i), layer) for i, layer in enumerate(readout_layers)]:
        if not isinstance(layer, nn.Module) or not any(layer is m for m in modules):
            raise ValueError("IBAReadout: the {} ({}) is not a module of the model {}; pass "
                             "layers of the model, e.g. model.features[10].".format(
                                 what, type(layer).__name__, type(model).__name__))
    return readout_layers


class IBAReadout(IBA):
    """The Readout Bottleneck: a readout network trained once predicts alpha for any input.

    A nested pass runs the model unrestricted and records the outputs of the readout layers
    (feature maps, resized to the attach layer's resolution, or vectors such as the logits,
    broadcast); they may lie before or after the attach layer. The readout network (three 1x1
    convolutions) predicts alpha from them, and the bottleneck restricts the attach layer's
    output with it exactly as :class:`~iba_tf.pytorch.IBA` does with its optimised alpha. The
    readout sees no class index, only what its readout layers carry (as in the reference). It
    is trained with the Per-Sample objective ``cross-entropy of the label + beta * mean
    capacity``; the model's weights are never changed.

    Args:
        attach_layer (nn.Module): the layer whose output is restricted; it must output a
            feature map ``(n, c, h, w)``.
        readout_layers (list): layers of ``model`` whose outputs the readout network reads.
        model (nn.Module): the model; its output must be the logits ``(n, classes)``.
        estimator_type (type): class of the feature estimators (None:
            :class:`~iba_tf.pytorch.TorchWelfordEstimator`).
        seed (int): seed of the readout network's initial weights (the TensorFlow port's for
            the same seed).
        **kwargs: the :class:`~iba_tf.pytorch.IBA` hyperparameters (``sigma``, ``beta``,
            ``min_std``, ``lr`` (Adam's learning rate in :meth:`train`, default 1e-2, as the
            TensorFlow port), ``active_neurons_threshold``, ``progbar``, ``relu``).

    Example:
        >>> readout = IBAReadout(model.conv2, [model.conv1, model.conv2, model.fc], model)
        >>> readout.estimate(model, train_loader, n_samples=2000)
        >>> readout.train(model, train_loader, epochs=3)
        >>> saliency = readout.analyze(image[None], model)       # (h, w), bits per pixel
        >>> maps = readout.analyze_batch(images, model)          # (n, h, w)
    """

    _estimate_whole_model = True   # the readout layers may lie after the attach layer

    def __init__(self, attach_layer, readout_layers, model, estimator_type=None, seed=0,
                 **kwargs):
        readout_layers = _check_layers(attach_layer, readout_layers, model)
        estimator_type = TorchWelfordEstimator if estimator_type is None else estimator_type
        if not (isinstance(estimator_type, type)
                and issubclass(estimator_type, TorchWelfordEstimator)):
            raise TypeError("IBAReadout: estimator_type must be None or a subclass of "
                            "TorchWelfordEstimator, got {!r}.".format(estimator_type))
        if "layer" in kwargs or "estimator" in kwargs:
            raise TypeError("IBAReadout takes the attach layer as attach_layer and creates its "
                            "estimators itself (estimator_type); do not pass layer/estimator.")
        kwargs.setdefault("lr", 1e-2)
        super().__init__(attach_layer, estimator=estimator_type(), **kwargs)
        self.seed = int(seed)
        self.readout_estimators = nn.ModuleList(estimator_type() for _ in readout_layers)
        #: the readout network, built by :meth:`estimate` (it needs the layers' shapes)
        self.readout_network = None
        #: Adam steps trained; :meth:`analyze` needs at least one (or :meth:`set_weights`)
        self.steps_trained = 0
        self._readout_layers = readout_layers   # a tuple keeps them out of _modules
        self._collected = None     # a dict index -> readout map during the nested pass
        self._readout_stats = None
        self._readout_handles = [layer.register_forward_hook(self._readout_hook(index))
                                 for index, layer in enumerate(readout_layers)]

    def _readout_hook(self, index):
        def hook(module, inputs, output):
            if self._collected is not None or self._estimate:
                check_readout("{} ({})".format(index, type(module).__name__), output)
            if self._collected is not None:
                self._collected[index] = output.detach()
            if self._estimate:
                self.readout_estimators[index](output.detach())
        return hook

    def detach(self):
        """Removes the bottleneck and the readout hooks, restoring the original model."""
        super().detach()
        for handle in self._readout_handles:
            handle.remove()
        self._readout_handles = []

    # ------------------------------------------------------------------ estimation
    def reset_estimate(self):
        """As :meth:`IBA.reset_estimate`, and also forgets the readout layers' statistics."""
        super().reset_estimate()
        for estimator in self.readout_estimators:
            estimator.reset()
        self._readout_stats = None

    def estimate(self, model, dataloader, device=None, n_samples=10000, progbar=None,
                 reset=True):
        """Estimates the statistics of the attach layer and of every readout layer.

        Runs the whole model on the batches (see :meth:`IBA.estimate` for the arguments) and
        then builds the readout network for the layers' shapes, unless it exists for them, on
        ``device`` (None: the device of the model's first parameter).
        """
        super().estimate(model, dataloader, device, n_samples, progbar, reset)
        self._readout_stats = None
        feature_shape = tuple(self.estimator.welford.shape)
        if len(feature_shape) != 3:
            raise ValueError("IBAReadout: the attach layer outputs {} per sample; the Readout "
                             "Bottleneck needs a feature map (c, h, w). Attach it after a "
                             "convolution.".format(feature_shape))
        channels = [e.welford.shape[0] for e in self.readout_estimators]
        network = self.readout_network
        if network is None or network.feature_shape != feature_shape or \
                network.in_channels != sum(channels):
            self.readout_network = ReadoutNetwork(channels, feature_shape, self.seed)
            parameter = next(iter(model.parameters()), None)
            if device is not None or parameter is not None:
                self.readout_network.to(device if device is not None else parameter.device)
            self.steps_trained = 0
        return self

    def readout_statistics(self):
        """``(mean, std)`` of each readout layer as float32 tensors, std clamped to min_std."""
        if self._readout_stats is None:
            stats = []
            for index, estimator in enumerate(self.readout_estimators):
                if estimator.n_samples() < 2:
                    raise RuntimeError("IBAReadout has no statistics of readout layer {}: call "
                                       "estimate(model, dataloader) first.".format(index))
                mean = torch.as_tensor(estimator.welford.mean(), dtype=torch.float32)
                std = torch.as_tensor(estimator.welford.std(), dtype=torch.float32)
                stats.append((mean, std.clamp(min=self.min_std)))
            self._readout_stats = stats
        return self._readout_stats

    # ------------------------------------------------------------------ weights
    def get_weights(self):
        """The readout network's weights as six numpy arrays (the TensorFlow port's layout)."""
        return self._network().get_weights()

    def set_weights(self, values):
        """Sets the readout network's weights (from :meth:`get_weights` or the TensorFlow port).

        The readout then counts as trained: :meth:`analyze` uses these weights.
        """
        self._network().set_weights(values)
        self.steps_trained = max(self.steps_trained, 1)

    def _network(self):
        if self.readout_network is None:
            raise RuntimeError("IBAReadout has no readout network yet: call estimate(model, "
                               "dataloader) first (it needs the layers' shapes).")
        return self.readout_network

    # ------------------------------------------------------------------ the two passes
    def _lambdas(self, alpha, sigma):
        if alpha.ndim == 3:
            return super()._lambdas(alpha, sigma)
        # one alpha (c, h, w) per sample: blur each sample's channels over h and w only
        flat = alpha.reshape(-1, *alpha.shape[2:])
        lam, one_minus_lam = super()._lambdas(flat, sigma)
        return lam.reshape(alpha.shape), one_minus_lam.reshape(alpha.shape)

    def nested_pass(self, model, x):
        """Runs ``model`` unrestricted (no gradient): returns ``(logits, feature, alpha)``.

        ``alpha`` is the readout network's prediction ``(n, c, h, w)``, with gradient.
        """
        network = self._network()
        self._collected, self._captured = {}, []
        try:
            with torch.no_grad():
                logits = model(x)
            collected, captured = self._collected, self._captured
        finally:
            self._collected, self._captured = None, None
        missing = [i for i in range(len(self._readout_layers)) if i not in collected]
        if not captured or missing:
            raise RuntimeError("IBAReadout: running the model did not pass the {}; give the "
                               "model the readout is attached to.".format(
                                   "attach layer" if not captured else
                                   "readout layer(s) {}".format(missing)))
        readouts = [collected[i] for i in range(len(collected))]
        return logits, captured[0], network(readouts, self.readout_statistics())

    def restricted_pass(self, model, x, alpha):
        """Runs ``model`` on ``x`` with the flow restricted by ``alpha``; returns its output.

        The capacity of the pass is then in ``self._capacity`` ``(n, c, h, w)``.
        """
        with self._switch("alpha", alpha), self.restrict_flow():
            return model(x)

    # ------------------------------------------------------------------ training
    def train(self, model, dataloader, epochs=1, steps_per_epoch=None, device=None,
              progbar=None):
        """Trains the readout network with Adam on ``loss = CE(label) + beta * capacity``.

        Args:
            model (nn.Module): the model the readout is attached to; left unchanged.
            dataloader: yields ``(x, y)`` batches (``y``: class indices or one-hot rows) or
                inputs only (then the model's own prediction is the label).
            epochs (int): passes over the data.
            steps_per_epoch (int): batches per epoch (None: the whole dataloader).
            device: where the batches are moved (None: the model's first parameter's device).
            progbar (bool): show a progress bar (None: the module's ``progbar``).

        Returns:
            list: one dict per epoch with the mean ``loss``, ``model_loss`` and
            ``information_loss`` (the mean capacity, nats per neuron).

        Raises:
            FloatingPointError: if the loss turns NaN/inf; says at which step, and the
                weights of the last good step are kept.
        """
        return readout_training.train(self, model, dataloader, int(epochs), steps_per_epoch,
                                      device, self.progbar if progbar is None else progbar)

    # ------------------------------------------------------------------ analysis
    def analyze_batch(self, inputs, model, mode="saliency"):
        """Explains a batch in one nested pass (no optimisation per input).

        Args:
            inputs (torch.Tensor): ``(n, C, H, W)``.
            model (nn.Module): the model the readout is attached to.
            mode (str): ``"saliency"`` (bits per pixel, ``(n, H, W)``) or ``"capacity"``
                (nats per neuron of the attach layer, ``(n, c, h, w)``).

        Returns:
            np.ndarray: the maps.
        """
        if mode not in _MODES:
            raise ValueError("IBAReadout.analyze: mode must be 'saliency' or 'capacity', got "
                             "{!r}.".format(mode))
        if not self.steps_trained:
            raise RuntimeError("IBAReadout: the readout network is not trained: call "
                               "train(model, dataloader) (or set_weights) before analyze.")
        if not torch.is_tensor(inputs) or inputs.ndim != 4:
            raise ValueError("IBAReadout.analyze: inputs must be a batch of images "
                             "(n, C, H, W), got {}.".format(
                                 tuple(inputs.shape) if torch.is_tensor(inputs)
                                 else type(inputs).__name__))
        with torch.no_grad():
            _, feature, alpha = self.nested_pass(model, inputs)
            with self._switch("alpha", alpha), self.restrict_flow():
                self._restricted(feature)   # the capacity; the model's tail is not needed
        capacity = self._capacity.cpu().numpy()
        if mode == "capacity":
            return capacity
        return saliency_maps(capacity, tuple(inputs.shape[2:]), channel_axis=1)

    def analyze(self, input_t, model, mode="saliency", **kwargs):
        """Explains one input with the trained readout, as :meth:`IBA.analyze` does.

        Args:
            input_t (torch.Tensor): the input, a batch of one ``(1, C, H, W)``.
            model (nn.Module): the model containing the trained bottleneck.
            mode (str): ``"saliency"`` (``(H, W)``, bits per pixel) or ``"capacity"``
                (``(c, h, w)``, nats per neuron).
            **kwargs: ignored (the seed's signature).

        Returns:
            np.ndarray: the map. Use :meth:`analyze_batch` for many inputs at once.
        """
        if not torch.is_tensor(input_t) or input_t.ndim != 4 or input_t.shape[0] != 1:
            raise ValueError("IBAReadout.analyze explains one input: input_t must be (1, C, H, "
                             "W), got {}; use analyze_batch for batches.".format(
                                 tuple(input_t.shape) if torch.is_tensor(input_t)
                                 else type(input_t).__name__))
        return self.analyze_batch(input_t, model, mode)[0]

    def extra_repr(self):
        """Returns the settings that ``repr(readout)`` shows."""
        return "readout_layers={}, steps_trained={}, {}".format(
            len(self._readout_layers), self.steps_trained, super().extra_repr())
