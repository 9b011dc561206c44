"""IBA: the Per-Sample Information Bottleneck as a ``torch.nn.Module``.

The PyTorch port of :class:`iba_tf.IBALayer`: the same method, defaults and numbers (the blur
uses the same matrices from :mod:`iba_tf.smoothing`, the optimiser the same Adam update as the
TensorFlow port), for features in torch's channels-first layout ``(c, h, w)``.
"""
import contextlib
import functools
import math

import numpy as np
import torch
from torch import nn

from .. import hyperparameters
from ..smoothing import smoothing_matrix
from ..utils import get_tqdm, ifnone
from ..welford import WelfordEstimator
from .estimator import TorchWelfordEstimator
from .utils import to_saliency_map

__all__ = ["IBA", "blur", "capacity_per_neuron"]

_MODES = ("saliency", "capacity")


class _InterruptExecution(Exception):
    """Raised by the bottleneck inside ``interrupt_execution()`` to stop the forward pass."""


def _validate(**values):
    return hyperparameters.validate(_prefix="IBA: ", **values)


@functools.lru_cache(maxsize=64)
def _smoothing_matrix(size, sigma):
    return smoothing_matrix(size, sigma)


def blur(x, sigma):
    """Gaussian-blurs every axis of ``x`` but the first with std ``sigma`` (reflect padding).

    ``x`` has alpha's shape ``(c, *spatial)``: each channel is blurred over its spatial axes.
    Each axis is one product with :func:`iba_tf.smoothing.smoothing_matrix` (the matrices of the
    TensorFlow port), so the blur is differentiable and works for any map size. ``sigma`` of 0
    or None returns ``x``.

    Args:
        x (torch.Tensor): ``(c, *spatial)``, e.g. ``(c, h, w)``.
        sigma (float): the kernel's std in pixels of the feature map.

    Returns:
        torch.Tensor: the blurred ``x``, same shape.
    """
    if not sigma:
        return x
    for axis in range(1, x.ndim):
        matrix = torch.as_tensor(_smoothing_matrix(x.shape[axis], float(sigma)),
                                 dtype=x.dtype, device=x.device)
        # out[..., i, ...] = sum_j matrix[i, j] * x[..., j, ...]
        x = torch.movedim(torch.movedim(x, axis, -1) @ matrix.T, -1, axis)
    return x


def capacity_per_neuron(lam, one_minus_lam, normalized_feature):
    """The KL divergence (nats) of ``N(lam * r, (1 - lam)^2)`` from ``N(0, 1)``, per neuron.

    ``one_minus_lam`` is passed separately (the blurred ``sigmoid(-alpha)``) so that
    ``log(1 - lam)`` stays accurate where ``lam`` rounds to 1; it is clamped to the smallest
    normal float before the log, so the result is finite.
    """
    tiny = torch.finfo(one_minus_lam.dtype).tiny
    log_one_minus_lam = torch.log(torch.clamp(one_minus_lam, min=tiny))
    return -0.5 * (1. + 2. * log_one_minus_lam - (lam * normalized_feature) ** 2
                   - one_minus_lam ** 2)


def _adam_step(param, grad, state, lr, beta1=0.9, beta2=0.999, epsilon=1e-8):
    """One Adam step in place, the update of ``tf.train.AdamOptimizer`` (and the TF port).

    It differs from ``torch.optim.Adam`` only in where epsilon enters (``sqrt(v_t) + eps``
    with the bias correction folded into the step size).
    """
    state["t"] += 1
    t = state["t"]
    state["m"].mul_(beta1).add_(grad, alpha=1 - beta1)
    state["v"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    step_size = lr * math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
    param.sub_(step_size * state["m"] / (state["v"].sqrt() + epsilon))


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
        self._given_stats = None
        if feature_mean is not None:
            self._given_stats = tuple(self._as_array(value, name) for value, name in (
                (feature_mean, "feature_mean"), (feature_std, "feature_std")))
            if self._given_stats[0].shape != self._given_stats[1].shape:
                raise ValueError("IBA: feature_mean has shape {} but feature_std {}.".format(
                    self._given_stats[0].shape, self._given_stats[1].shape))
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

    @staticmethod
    def _as_array(value, name):
        if torch.is_tensor(value):
            value = value.detach().cpu().double().numpy()
        value = np.asarray(value, dtype=np.float64)
        if not np.all(np.isfinite(value)):
            raise ValueError("IBA: {} has NaN/inf values.".format(name))
        return value

    # ------------------------------------------------------------------ attaching
    def _attach(self, layer):
        if not isinstance(layer, nn.Module):
            raise TypeError("IBA: layer must be an nn.Module (or None), got {!r}."
                            .format(type(layer).__name__))
        if self.input_or_output == "output":
            def hook(module, inputs, output):
                self._check_tensor(output, "output")
                return self(output)
            self._hook_handle = layer.register_forward_hook(hook)
        else:
            def pre_hook(module, inputs):
                if not inputs:
                    raise TypeError("IBA: {} was called without a positional input."
                                    .format(type(module).__name__))
                self._check_tensor(inputs[0], "input")
                return (self(inputs[0]),) + tuple(inputs[1:])
            self._hook_handle = layer.register_forward_pre_hook(pre_hook)
        self._layer = (layer,)

    @staticmethod
    def _check_tensor(value, what):
        if not torch.is_tensor(value):
            raise TypeError("IBA: the layer's {} is a {}, not a tensor; attach the bottleneck to a "
                            "layer with a single tensor {}.".format(what, type(value).__name__,
                                                                   what))

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
        mean, std, active = self._stats
        if tuple(x.shape[1:]) != tuple(mean.shape):
            raise ValueError("IBA: the feature has shape {} per sample, but its statistics have "
                             "shape {}; estimate them again on this layer (reset_estimate / "
                             "estimate) or pass statistics of the right shape."
                             .format(tuple(x.shape[1:]), tuple(mean.shape)))
        key = (x.device, x.dtype)
        if key not in self._stats_on:
            self._stats_on[key] = (mean.to(device=x.device, dtype=x.dtype),
                                   std.to(device=x.device, dtype=x.dtype), active.to(x.device))
        return self._stats_on[key]

    def _load_statistics(self, min_std=None, active_neurons_threshold=None):
        """Computes (mean, std, active) for the given settings (None: the module's)."""
        min_std = ifnone(min_std, self.min_std)
        threshold = ifnone(active_neurons_threshold, self.active_neurons_threshold)
        if self._given_stats is not None:
            mean, std = self._given_stats
            active = np.ones(mean.shape, dtype=bool)
        elif self.estimator.n_samples() >= 2:
            mean, std = self.estimator.welford.mean(), self.estimator.welford.std()
            active = self.estimator.welford.active_neurons(threshold)
        else:
            raise RuntimeError(
                "IBA has no feature statistics ({} sample(s) estimated): call "
                "iba.estimate(model, dataloader) first, or pass feature_mean and feature_std."
                .format(self.estimator.n_samples()))
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std))):
            raise ValueError("IBA: the estimated feature statistics have NaN/inf values: the "
                             "model produced non-finite features; call reset_estimate() and "
                             "estimate on valid inputs.")
        self._set_statistics((torch.from_numpy(mean).float(),
                              torch.from_numpy(np.maximum(std, min_std)).float(),
                              torch.from_numpy(np.asarray(active, dtype=bool))))

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
        start = self.estimator.n_samples()
        with get_tqdm()(total=n_samples, disable=not ifnone(progbar, self.progbar),
                        desc="Estimating", unit="sample") as bar, torch.no_grad():
            for batch in dataloader:
                inputs = batch[0] if isinstance(batch, (tuple, list)) else batch
                if not torch.is_tensor(inputs):
                    raise TypeError("IBA.estimate: the dataloader must yield tensors or tuples "
                                    "whose first item is the input tensor; got {!r}."
                                    .format(type(inputs).__name__))
                if device is not None:
                    inputs = inputs.to(device)
                before = self.estimator.n_samples()
                with self.enable_estimation(), self.interrupt_execution():
                    model(inputs)
                if self.estimator.n_samples() == before:
                    raise RuntimeError("IBA.estimate: running the model did not pass the "
                                       "bottleneck; attach the IBA to a layer of this model "
                                       "(IBA(model.layer)) or insert it into the model.")
                seen = self.estimator.n_samples() - start
                bar.update(min(seen, n_samples) - bar.n)
                if seen >= n_samples:
                    break
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
        if mode not in _MODES:
            raise ValueError("IBA.analyze: mode must be 'saliency' or 'capacity', got {!r}."
                             .format(mode))
        if not torch.is_tensor(input_t) or input_t.ndim < 2 or input_t.shape[0] != 1:
            raise ValueError("IBA.analyze explains one sample at a time: input_t must be a tensor "
                             "with a batch axis of size 1, e.g. image[None]; got {}.".format(
                                 tuple(input_t.shape) if torch.is_tensor(input_t)
                                 else type(input_t).__name__))
        if not callable(model_loss_fn):
            raise TypeError("IBA.analyze: model_loss_fn must be callable (a closure mapping an "
                            "input batch to a scalar loss).")
        _validate(beta=beta, optimization_steps=optimization_steps, min_std=min_std, lr=lr,
                  batch_size=batch_size, active_neurons_threshold=active_neurons_threshold)
        beta = ifnone(beta, self.beta)
        steps = ifnone(optimization_steps, self.optimization_steps)
        lr = ifnone(lr, self.lr)
        batch_size = ifnone(batch_size, self.batch_size)
        self._load_statistics(min_std, active_neurons_threshold)

        feature = self._record_feature(input_t, model_loss_fn)
        self._statistics_on(feature)    # checks the shape
        alpha = torch.full(feature.shape[1:], float(self.initial_alpha), dtype=feature.dtype,
                           device=feature.device)
        self.alpha = alpha
        adam = dict(t=0, m=torch.zeros_like(alpha), v=torch.zeros_like(alpha))
        batch = input_t.expand(batch_size, *input_t.shape[1:])
        alpha.requires_grad_(True)
        try:
            with self.restrict_flow(), torch.enable_grad():
                for _ in get_tqdm()(range(steps), disable=not self.progbar, desc="IBA"):
                    self._capacity = None
                    model_loss = model_loss_fn(batch)
                    self._check_step(model_loss)
                    loss = model_loss + beta * self._capacity.mean()
                    gradient, = torch.autograd.grad(loss, [alpha])
                    with torch.no_grad():
                        gradient = torch.where(torch.isfinite(gradient), gradient,
                                               torch.zeros_like(gradient))
                        _adam_step(alpha, gradient, adam, lr)
        finally:
            alpha.requires_grad_(False)
        with torch.no_grad():
            self._restricted(feature)   # the capacity of the final alpha
        capacity = self.capacity().cpu().numpy()
        if mode == "capacity":
            return capacity
        return to_saliency_map(capacity, tuple(input_t.shape[2:]), data_format="channels_first")

    def _record_feature(self, input_t, model_loss_fn):
        """Runs ``model_loss_fn(input_t)`` up to the bottleneck and returns the feature."""
        self._captured = []
        try:
            with torch.no_grad(), self.interrupt_execution():
                model_loss_fn(input_t)
            captured = self._captured
        finally:
            self._captured = None
        if not captured:
            raise RuntimeError("IBA.analyze: model_loss_fn did not run the bottleneck; it must "
                               "evaluate the model the IBA is attached to (or inserted in).")
        return captured[0]

    def _check_step(self, model_loss):
        if self._capacity is None:
            raise RuntimeError("IBA.analyze: model_loss_fn did not run the bottleneck; it must "
                               "evaluate the model the IBA is attached to (or inserted in).")
        if not torch.is_tensor(model_loss) or model_loss.numel() != 1:
            raise ValueError("IBA.analyze: model_loss_fn must return a scalar loss tensor (e.g. "
                             "the mean over the batch); got {}.".format(
                                 tuple(model_loss.shape) if torch.is_tensor(model_loss)
                                 else type(model_loss).__name__))
        if not model_loss.requires_grad:
            raise ValueError("IBA.analyze: the loss of model_loss_fn does not depend on the "
                             "bottleneck; do not compute it under torch.no_grad() or detach it.")

    def extra_repr(self):
        """Returns the settings that ``repr(iba)`` shows."""
        attached = "" if not self._layer else "layer={}, ".format(type(self._layer[0]).__name__)
        return ("{}sigma={}, beta={}, optimization_steps={}, lr={}, batch_size={}, min_std={}, "
                "input_or_output={!r}, relu={}".format(
                    attached, self.sigma, self.beta, self.optimization_steps, self.lr,
                    self.batch_size, self.min_std, self.input_or_output, self.relu))
