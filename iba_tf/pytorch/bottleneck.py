"""IBA: the Per-Sample Information Bottleneck as a ``torch.nn.Module``.

The PyTorch port of :class:`iba_tf.IBALayer`: the same method, defaults and numbers (the blur
uses the same matrices from :mod:`iba_tf.smoothing`, the optimiser the same Adam update as the
TensorFlow port), for features in torch's channels-first layout ``(c, h, w)``. This module
holds the bottleneck's state and its noise injection; the tensor arithmetic lives in
:mod:`.ops`, the feature statistics in :mod:`.statistics`, the layer hooks in :mod:`.hooks`
and the estimation and optimisation loops in :mod:`.loops`.
"""
import contextlib

import torch
from torch import nn

from .. import hyperparameters
from ..utils import ifnone
from ..welford import WelfordEstimator
from . import loops, statistics
from .estimator import TorchWelfordEstimator
from .hooks import register_bottleneck
from .ops import blur, capacity_per_neuron
from .utils import to_saliency_map

# blur and capacity_per_neuron are re-exported: their home was this module.
__all__ = ["IBA", "blur", "capacity_per_neuron"]

class _InterruptExecution(Exception):
    """Raised by the bottleneck inside ``interrupt_execution()`` to stop the forward pass."""


def _validate(**values):
    return hyperparameters.validate(_prefix="IBA: ", **values)


def _as_torch_estimator(estimator):
    """Returns ``estimator`` as a TorchWelfordEstimator (a new one for None)."""
    if estimator is None:
        return TorchWelfordEstimator()
    if isinstance(estimator, WelfordEstimator):
        return TorchWelfordEstimator(estimator=estimator)
    if not isinstance(estimator, TorchWelfordEstimator):
        raise TypeError("IBA: estimator must be a TorchWelfordEstimator or a WelfordEstimator, "
                        "got {!r}.".format(type(estimator).__name__))
    return estimator


class IBA(nn.Module):
    """The Per-Sample Information Bottleneck for PyTorch models.

    Attach it to a layer (``IBA(model.conv4)``: a forward hook replaces the layer's output, or
    its input with ``input_or_output="input"``) or insert it into the model yourself
    (``IBA()`` with :func:`~iba_tf.pytorch.insert_into_sequential`). Outside
    :meth:`restrict_flow` and :meth:`analyze` it is exactly the identity.

    :meth:`analyze` replaces the feature ``R`` by ``Z = lambda * R + (1 - lambda) * eps`` with
    noise ``eps ~ N(mean, std^2)`` and optimises ``lambda = blur(sigmoid(alpha))`` for one input,
    so that as little information as possible (the capacity, in nats per neuron) passes while
    the model keeps its prediction: ``loss = model_loss + beta * mean(capacity)``.

    Args:
        layer (nn.Module): the layer whose output (or input) is the explained feature; None if
            you insert the IBA module into the model.
        sigma (float): std of the Gaussian blur of lambda, in feature-map pixels (default 1;
            0 or None: no blur).
        beta (float): weight of the mean capacity in the loss (default 10).
        min_std (float): lower bound of the feature std (default 0.01).
        optimization_steps (int): Adam steps per analysis (default 10).
        lr (float): Adam's learning rate (default 1).
        batch_size (int): noise samples of the same input per step (default 10).
        initial_alpha (float): alpha's initial value (default 5, lambda ~ 0.993).
        active_neurons_threshold (float): a neuron is active if it is non-zero in more than
            this share of the estimation samples (default 0.01); inactive neurons output 0 and
            count no capacity.
        feature_mean, feature_std (np.ndarray or torch.Tensor): per-neuron statistics of the
            feature ``(c, h, w)``, given together instead of estimating them (all neurons are
            then active).
        estimator (TorchWelfordEstimator or WelfordEstimator): a fitted estimator to use;
            None creates an empty one that :meth:`estimate` fills.
        progbar (bool): show progress bars in :meth:`estimate` and :meth:`analyze`.
        input_or_output (str): ``"output"`` (default) or ``"input"`` of ``layer``.
        relu (bool): if True the noise is passed through a ReLU (for non-negative features).

    Example:
        >>> iba = IBA(model.conv2)
        >>> iba.estimate(model, dataloader, n_samples=5000)
        >>> loss_fn = lambda x: F.cross_entropy(model(x), torch.tensor([target] * len(x)))
        >>> saliency = iba.analyze(image[None], loss_fn)          # (h, w), bits per pixel
        >>> plot_saliency_map(saliency, tensor_to_np_img(image))
    """

    def __init__(self, layer=None, sigma=1., beta=10, min_std=0.01, optimization_steps=10, lr=1,
                 batch_size=10, initial_alpha=5., active_neurons_threshold=0.01,
                 feature_mean=None, feature_std=None, estimator=None, progbar=False,
                 input_or_output="output", relu=False):
        super().__init__()
        _validate(sigma=sigma, beta=beta, min_std=min_std, optimization_steps=optimization_steps,
                  lr=lr, batch_size=batch_size, initial_alpha=initial_alpha,
                  active_neurons_threshold=active_neurons_threshold)
        required = dict(beta=beta, min_std=min_std, optimization_steps=optimization_steps, lr=lr,
                        batch_size=batch_size, initial_alpha=initial_alpha,
                        active_neurons_threshold=active_neurons_threshold)
        missing = sorted(name for name, value in required.items() if value is None)
        if missing:
            raise ValueError("IBA: {} must not be None.".format(", ".join(missing)))
        if input_or_output not in ("output", "input"):
            raise ValueError("IBA: input_or_output must be 'output' or 'input', got {!r}."
                             .format(input_or_output))
        if estimator is not None and (feature_mean is not None or feature_std is not None):
            raise ValueError("IBA: give either an estimator or feature_mean/feature_std, not both.")
        if (feature_mean is None) != (feature_std is None):
            raise ValueError("IBA: feature_mean and feature_std must be given together.")
        self.estimator = _as_torch_estimator(estimator)
        self.sigma = sigma
        self.beta = beta
        self.min_std = min_std
        self.optimization_steps = optimization_steps
        self.lr = lr
        self.batch_size = batch_size
        self.initial_alpha = initial_alpha
        self.active_neurons_threshold = active_neurons_threshold
        self.progbar = bool(progbar)
        self.input_or_output = input_or_output
        self.relu = bool(relu)
        self._given_stats = (None if feature_mean is None
                             else statistics.given_statistics(feature_mean, feature_std))
        #: alpha of the last analysis, shape of the feature ``(c, h, w)``; None before it
        self.alpha = None
        self._stats = None        # (mean, std, active) of the current settings, CPU tensors
        self._stats_on = {}       # (device, dtype) -> those statistics there
        self._capacity = None     # capacity of the last restricted pass, (n, c, h, w)
        self._restrict = False
        self._estimate = False
        self._interrupt = False
        self._captured = None     # a list while analyze() records the feature
        self._layer = ()          # (layer,) while attached; a tuple keeps it out of _modules
        self._hook_handle = None
        if layer is not None:
            self._attach(layer)

    # ------------------------------------------------------------------ attaching
    def _attach(self, layer):
        self._hook_handle = register_bottleneck(self, layer, self.input_or_output)
        self._layer = (layer,)

    def detach(self):
        """Removes the bottleneck's hook from its layer, restoring the original model.

        Raises:
            RuntimeError: if the bottleneck is not attached to a layer (``layer=None``; then
                remove the module from your model yourself).
        """
        if self._hook_handle is None:
            raise RuntimeError("IBA: this bottleneck is not attached to a layer (created with "
                               "layer=None or detached already); remove it from the model "
                               "yourself.")
        self._hook_handle.remove()
        self._hook_handle = None
        self._layer = ()

    # ------------------------------------------------------------------ forward
    def forward(self, x):
        """Passes ``x`` on, unchanged or with restricted information; called by the model.

        Inside :meth:`analyze` and :meth:`restrict_flow` it returns ``Z``, else ``x`` itself.
        With :meth:`enable_estimation` on, ``x`` also updates the estimator; with
        :meth:`interrupt_execution` on, the model's forward pass stops here.
        """
        if self._captured is not None:
            self._captured.append(x.detach())
        if self._restrict:
            out = self._restricted(x)
        else:
            if self._estimate:
                self.estimator(x)
            out = x
        if self._interrupt:
            raise _InterruptExecution()
        return out

    def _lambdas(self, alpha, sigma):
        return blur(torch.sigmoid(alpha), sigma), blur(torch.sigmoid(-alpha), sigma)

    def _restricted(self, x):
        mean, std, active = self._statistics_on(x)
        alpha = self.alpha if self.alpha is not None else torch.full(
            mean.shape, float(self.initial_alpha))
        alpha = alpha.to(device=x.device, dtype=x.dtype)
        lam, one_minus_lam = self._lambdas(alpha, self.sigma)
        noise = mean + std * torch.randn_like(x)
        if self.relu:
            noise = torch.relu(noise)
        z = lam * x + one_minus_lam * noise
        capacity = capacity_per_neuron(lam, one_minus_lam, (x - mean) / std)
        zero = torch.zeros((), dtype=x.dtype, device=x.device)
        self._capacity = torch.where(active, capacity, zero)
        return torch.where(active, z, zero)

    def _statistics_on(self, x):
        """Returns (mean, std clamped, active) on ``x``'s device and dtype, checked."""
        if self._stats is None:
            self._load_statistics()
        return statistics.statistics_on(self._stats, self._stats_on, x)

    def _load_statistics(self, min_std=None, active_neurons_threshold=None):
        """Computes (mean, std, active) for the given settings (None: the module's)."""
        self._set_statistics(statistics.load_statistics(
            self.estimator, self._given_stats, ifnone(min_std, self.min_std),
            ifnone(active_neurons_threshold, self.active_neurons_threshold)))

    def _set_statistics(self, stats):
        self._stats = stats
        self._stats_on = {}

    # ------------------------------------------------------------------ context managers
    @contextlib.contextmanager
    def _switch(self, name, value):
        previous = getattr(self, name)
        setattr(self, name, value)
        try:
            yield
        finally:
            setattr(self, name, previous)

    @contextlib.contextmanager
    def interrupt_execution(self):
        """Context manager that stops the model's forward pass at the bottleneck.

        The code after the model call inside the ``with`` block is skipped; useful to estimate
        the statistics without running the rest of the model.

        Example:
            >>> with iba.interrupt_execution():
            ...     model(x)
            ...     print("never printed")
        """
        try:
            with self._switch("_interrupt", True):
                yield
        except _InterruptExecution:
            pass

    @contextlib.contextmanager
    def enable_estimation(self):
        """Context manager in which every feature passing the bottleneck updates the estimator.

        :meth:`estimate` uses it; call it yourself to feed the features of your own loop.
        """
        try:
            with self._switch("_estimate", True):
                yield
        finally:
            self._set_statistics(None)   # they are read again from the estimator

    @contextlib.contextmanager
    def restrict_flow(self):
        """Context manager in which the bottleneck adds noise: ``Z`` replaces the feature.

        It uses the alpha of the last :meth:`analyze` (before any, alpha = ``initial_alpha``
        everywhere) and that analysis' statistics settings. The previous state is restored on
        exit, also when the body raises.

        Example:
            >>> with iba.restrict_flow():
            ...     logits = model(x)       # one noise draw per row of x
        """
        if self._stats is None:
            self._load_statistics()
        with self._switch("_restrict", True):
            yield

    # ------------------------------------------------------------------ estimation
    def reset_estimate(self):
        """Forgets the estimated statistics (e.g. after training the model further)."""
        self.estimator.reset()
        self._set_statistics(None)
        self.alpha = None
        self._capacity = None

    def estimate(self, model, dataloader, device=None, n_samples=10000, progbar=None,
                 reset=True):
        """Estimates the feature's mean, std and activity from the data in ``dataloader``.

        The model runs under ``torch.no_grad()`` only up to the bottleneck; put it in eval
        mode first if it has dropout or batch norm. About 10,000 i.i.d. samples give good
        estimates.

        Args:
            model (nn.Module): the model containing (or hooked to) the bottleneck.
            dataloader: yields batches: a tensor, or a tuple/list whose first item is the
                input batch.
            device: where the inputs are moved; None uses the device of the model's first
                parameter (inputs stay where they are for a model without parameters).
            n_samples (int): stop once this many samples were seen.
            progbar (bool): show a progress bar; None uses the module's ``progbar``.
            reset (bool): forget the previous estimate first.

        Returns:
            self
        """
        if not hyperparameters.is_int(n_samples) or n_samples < 1:
            raise ValueError("IBA.estimate: n_samples must be an int >= 1, got {!r}."
                             .format(n_samples))
        if reset:
            self.reset_estimate()
        if device is None:
            parameter = next(iter(model.parameters()), None)
            device = None if parameter is None else parameter.device
        self._set_statistics(None)
        loops.estimate_features(self, model, dataloader, device, n_samples,
                                progbar=ifnone(progbar, self.progbar))
        return self

    # ------------------------------------------------------------------ analysis
    def capacity(self):
        """Returns the capacity (nats per neuron) of the last input, shape ``(c, h, w)``.

        After :meth:`analyze` it is the capacity of the final alpha; after a model run inside
        :meth:`restrict_flow`, the mean over that run's rows.
        """
        if self._capacity is None:
            raise RuntimeError("IBA: no capacity yet; call analyze(...) (or run the model inside "
                               "restrict_flow()) first.")
        return self._capacity.mean(dim=0)

    def analyze(self, input_t, model_loss_fn, mode="saliency", beta=None,
                optimization_steps=None, min_std=None, lr=None, batch_size=None,
                active_neurons_threshold=None):
        """Optimises the bottleneck for one input and returns its saliency map or capacity.

        Every hyperparameter given here overrides the module's value for this call only; None
        keeps it, 0 is a value. The model's weights and their ``.grad`` are left untouched.

        Args:
            input_t (torch.Tensor): the input, a batch of one ``(1, c, h, w)``.
            model_loss_fn (callable): maps a batch of inputs (``batch_size`` copies of
                ``input_t``) to a scalar loss, e.g. the mean cross-entropy of the explained
                class: ``lambda x: F.cross_entropy(model(x), target.expand(len(x)))``. It must
                run the model containing the bottleneck, with gradients enabled.
            mode (str): ``"saliency"`` (bits per pixel, ``(h, w)`` of the input) or
                ``"capacity"`` (nats per neuron, the feature's shape ``(c, h', w')``).
            beta, optimization_steps, min_std, lr, batch_size: see the class.
            active_neurons_threshold (float): see the class (None: the module's, default 0.01).

        Returns:
            np.ndarray: the saliency map or the capacity after the last step.
        """
        loops.check_analyze_arguments(input_t, model_loss_fn, mode)
        _validate(beta=beta, optimization_steps=optimization_steps, min_std=min_std, lr=lr,
                  batch_size=batch_size, active_neurons_threshold=active_neurons_threshold)
        beta = ifnone(beta, self.beta)
        steps = ifnone(optimization_steps, self.optimization_steps)
        lr = ifnone(lr, self.lr)
        batch_size = ifnone(batch_size, self.batch_size)
        self._load_statistics(min_std, active_neurons_threshold)

        feature = loops.record_feature(self, input_t, model_loss_fn)
        self._statistics_on(feature)    # checks the shape
        self.alpha = torch.full(feature.shape[1:], float(self.initial_alpha),
                                dtype=feature.dtype, device=feature.device)
        loops.optimize_alpha(self, self.alpha, input_t.expand(batch_size, *input_t.shape[1:]),
                             model_loss_fn, steps, beta, lr)
        with torch.no_grad():
            self._restricted(feature)   # the capacity of the final alpha
        capacity = self.capacity().cpu().numpy()
        if mode == "capacity":
            return capacity
        return to_saliency_map(capacity, tuple(input_t.shape[2:]), data_format="channels_first")

    def extra_repr(self):
        """Returns the settings that ``repr(iba)`` shows."""
        attached = "" if not self._layer else "layer={}, ".format(type(self._layer[0]).__name__)
        return ("{}sigma={}, beta={}, optimization_steps={}, lr={}, batch_size={}, min_std={}, "
                "input_or_output={!r}, relu={}".format(
                    attached, self.sigma, self.beta, self.optimization_steps, self.lr,
                    self.batch_size, self.min_std, self.input_or_output, self.relu))
