"""IBACopyInnvestigate: the Per-Sample Bottleneck as an innvestigate analyzer."""
import inspect

import numpy as np
from innvestigate.analyzer.base import AnalyzerBase

from .compat import keras
from ..saliency import to_saliency_map
from ..utils import get_tqdm
from ..welford import WelfordEstimator
from .copy import IBACopy
from .graph import Tail
from .keras_utils import layer_output

__all__ = ["IBACopyInnvestigate", "default_feature_layer", "is_on_main_path",
           "register_with_innvestigate"]

# Samples optimised together in one run of analyze: each has its own alpha and target.
SAMPLES_PER_RUN = 8
# Samples per session run while estimating the statistics with fit(X).
FIT_BATCH = 32
OUTPUTS = ("saliency", "input")
# innvestigate 2 keeps neuron_selection_mode in AnalyzerBase's own state; 1.0.9 does not.
_BASE_HAS_SELECTION = "neuron_selection_mode" in inspect.signature(
    AnalyzerBase.__init__).parameters


def default_feature_layer(model):
    """Returns the layer IBACopyInnvestigate puts the bottleneck after when none is named.

    Among the layers that all of the information flows through (no skip connection runs around
    them, see :func:`is_on_main_path`): the first whose output has the input's spatial axes at
    no more than 1/8 of the input's resolution (VGG16 at 224x224: ``block3_pool``, the input of
    ``block4_conv1``, the layer of the paper's VGG experiments; in a residual network the
    output of a residual block); if the resolution never drops that far, the last such layer
    that still has spatial axes; for models without spatial axes, the last hidden layer.
    """
    input_shape = keras.backend.int_shape(model.input)
    spatial = input_shape[1:-1]
    candidates = [layer for layer in model.layers[1:-1] if not isinstance(
        layer, keras.layers.InputLayer)]
    if spatial and all(spatial):
        with_axes = [layer for layer in candidates
                     if len(layer.output_shape) == len(input_shape)]
        on_path = []
        for layer in with_axes:
            size = layer.output_shape[1:-1]
            small = all(s is not None and 8 * s <= full for s, full in zip(size, spatial))
            if small and is_on_main_path(model, layer):
                return layer
            if not small and is_on_main_path(model, layer):
                on_path.append(layer)
        if on_path:
            return on_path[-1]
    if not candidates:
        raise ValueError("The model {} has no hidden layer to put the bottleneck after."
                         .format(model.name))
    return candidates[-1]


def is_on_main_path(model, layer):
    """True if every path from the model's input to its output runs through ``layer``.

    A bottleneck after a layer that a skip connection bypasses restricts only one branch.
    """
    try:
        return not Tail(layer_output(model, layer), model.outputs).fed
    except ValueError:          # the output does not depend on this layer
        return False


def _feature_tensor(model, feature_name):
    if feature_name is None:
        return layer_output(model, default_feature_layer(model))
    if not isinstance(feature_name, str):
        raise TypeError("feature_name must be a layer or tensor name (str), got {!r}."
                        .format(type(feature_name).__name__))
    layer_names = [layer.name for layer in model.layers]
    if feature_name in layer_names:
        return layer_output(model, model.get_layer(feature_name))
    return feature_name               # a tensor name; IBACopy checks it and suggests matches


class IBACopyInnvestigate(IBACopy, AnalyzerBase):
    """The Per-Sample Bottleneck with innvestigate's analyzer API (classification models).

    A drop-in for ``innvestigate.create_analyzer(name, model)``: after ``import iba_tf``,
    ``innvestigate.create_analyzer("iba", model, ...)`` returns this analyzer.

    Args:
        model (keras.Model): the model; its output must be logits (see
            :func:`model_wo_softmax`): a softmax output is refused.
        neuron_selection_mode (str): ``"max_activation"`` (each sample's largest logit, from
            the copy) or ``"index"`` (give ``neuron_selection`` to :meth:`analyze`: an int for
            all samples or one per sample). ``"all"`` is refused: IBA explains one class per
            sample.
        feature_name (str): layer name or tensor name of the feature to restrict; None picks
            :func:`default_feature_layer`.
        estimator, feature_mean, feature_std, feature_active: feature statistics.
        batch_size, steps, beta, learning_rate, min_std, smooth_std, normalize_beta: default
            hyperparameters (see :class:`IBALayer`); change them with :meth:`set_default`.
        session: the model's session; None uses Keras' session.
        copy_session_config: config of the copy's session.
        disable_model_checks (bool): kept for innvestigate compatibility (IBA has no checks).
        output (str): ``"saliency"`` (default): :meth:`analyze` returns bits per pixel,
            ``(N, H, W)`` for images, ``(N, T)`` for sequences; ``"input"``: the same maps
            repeated over the channels, ``X.shape``, as innvestigate's own analyzers return
            and its perturbation tools expect.
        **keras_kwargs: keras layer keyword arguments.

    Example:
        >>> analyzer = IBACopyInnvestigate(model, feature_name="block4_conv1")
        >>> analyzer.fit(x_train[:1000])
        >>> saliency = analyzer.analyze(x_test[:4])          # (4, 224, 224), bits per pixel
    """

    def __init__(self, model, neuron_selection_mode="max_activation", feature_name=None,
                 estimator=None, feature_mean=None, feature_std=None, feature_active=None,
                 batch_size=10, steps=10, beta=10., learning_rate=1, min_std=0.01, smooth_std=1,
                 normalize_beta=True, session=None, copy_session_config=None,
                 disable_model_checks=False, output="saliency", **keras_kwargs):
        if not isinstance(model, keras.models.Model):
            raise TypeError("model must be a keras Model, got {!r}.".format(
                type(model).__name__))
        if neuron_selection_mode not in ("max_activation", "index"):
            raise ValueError(
                "neuron_selection_mode={!r} is not supported: use 'max_activation' or 'index'. "
                "IBA explains one class per sample ('all' would have to explain every output "
                "at once).".format(neuron_selection_mode))
        if output not in OUTPUTS:
            raise ValueError("output={!r} is invalid: use 'saliency' or 'input'.".format(output))
        if len(model.outputs) != 1:
            raise ValueError("IBACopyInnvestigate explains models with one output; {} has {}."
                             .format(model.name, len(model.outputs)))
        if model.output.op.type == "Softmax":
            raise ValueError(
                "The model {} ends with a softmax; IBA needs the logits. Use "
                "iba_tf.model_wo_softmax(model).".format(model.name))
        feature = _feature_tensor(model, feature_name)
        super().__init__(feature, model.output, estimator=estimator, feature_mean=feature_mean,
                         feature_std=feature_std, feature_active=feature_active,
                         graph=model.output.graph, session=session,
                         copy_session_config=copy_session_config, batch_size=batch_size,
                         steps=steps, beta=beta, learning_rate=learning_rate, min_std=min_std,
                         smooth_std=smooth_std, normalize_beta=normalize_beta, **keras_kwargs)
        # Not through Keras' attribute tracking: the model is not a part of this layer.
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "_disable_model_checks", disable_model_checks)
        object.__setattr__(self, "_model_checks", [])  # innvestigate 2 sets it in its __init__
        self._do_model_checks()
        self._neuron_selection_mode = neuron_selection_mode
        self._feature_name = feature_name
        self._output = output
        self._target = self.set_classification_loss()

    # ------------------------------------------------------------------ statistics
    def fit(self, X, session=None, run_kwargs=None, progbar=False):
        """Estimates the feature mean and std from the samples ``X`` (about 5000 is good).

        Ensure the model is in inference mode (Keras: the default learning phase).
        """
        X = np.asarray(X)
        with get_tqdm()(total=len(X), disable=not progbar, desc="Estimating",
                        unit="sample") as bar:
            for start in range(0, len(X), FIT_BATCH):
                super().fit({self._model.input: X[start:start + FIT_BATCH]}, session=session,
                            run_kwargs=run_kwargs)
                bar.update(len(X[start:start + FIT_BATCH]))

    def fit_generator(self, generator, steps_per_epoch=None, epochs=1, verbose=1, session=None,
                      progbar=True):
        """Estimates the feature mean and std from a generator of ``(samples, targets)``.

        Args:
            generator: yields ``(samples, targets)`` tuples (or bare sample batches); a
                ``keras.utils.Sequence`` works too.
            steps_per_epoch (int): batches per epoch; None runs until the generator ends (or
                ``len(generator)`` for a Sequence).
            epochs (int): passes over ``steps_per_epoch`` batches.
            verbose (int): 0 hides the progress bar (as does ``progbar=False``).
            session: the model's session; None uses the one given at construction.
            progbar (bool): show a progress bar.
        """
        if steps_per_epoch is None and hasattr(generator, "__len__"):
            steps_per_epoch = len(generator)
        total = None if steps_per_epoch is None else steps_per_epoch * epochs
        batches = iter(generator) if not isinstance(generator, keras.utils.Sequence) else (
            generator[i % len(generator)] for i in range(total))
        with get_tqdm()(total=total, disable=not (progbar and verbose), desc="Estimating",
                        unit="batch") as bar:
            for done, batch in enumerate(batches):
                if total is not None and done >= total:
                    break
                samples = batch[0] if isinstance(batch, (tuple, list)) else batch
                super().fit({self._model.input: samples}, session=session)
                bar.update(1)

    # ------------------------------------------------------------------ analysis
    def predict(self, X):
        """Returns the copy's logits for ``X`` (equal to ``model.predict(X)``)."""
        return super().predict({self._model.input: np.asarray(X)})

    def _targets(self, X, neuron_selection):
        n = len(X)
        if self._neuron_selection_mode == "max_activation":
            if neuron_selection is not None:
                raise ValueError("neuron_selection is only used with neuron_selection_mode="
                                 "'index'; this analyzer uses 'max_activation'.")
            return self.predict(X).argmax(axis=1)
        if neuron_selection is None:
            raise ValueError("neuron_selection_mode 'index' needs neuron_selection: the class "
                             "to explain, an int or one per sample.")
        targets = np.asarray(neuron_selection)
        if targets.ndim == 0:
            targets = np.full(n, int(targets))
        if targets.ndim != 1 or len(targets) != n:
            raise ValueError("neuron_selection has {} entries for {} samples: give one int or "
                             "one per sample.".format(targets.size, n))
        n_classes = int(self._copy_outputs[0].shape[-1])
        bad = [int(t) for t in targets if not 0 <= t < n_classes]
        if bad:
            raise ValueError("neuron_selection {} out of range: the model has {} outputs."
                             .format(bad, n_classes))
        return targets.astype(np.int64)

    def analyze(self, X, neuron_selection=None):
        """Returns one saliency map per sample of ``X``, each for its own target.

        Args:
            X: a batch of samples, as the model takes them.
            neuron_selection: with ``neuron_selection_mode="index"``, the class to explain: an
                int for every sample or one per sample.

        Returns:
            np.ndarray: bits per pixel, ``(N, H, W)`` for images, ``(N, T)`` for sequences; with
            ``output="input"``, repeated over the channels to ``X.shape``.
        """
        X = np.asarray(X)
        if X.ndim < 2 or len(X) == 0:
            raise ValueError("X must be a batch with at least one sample, got shape {}."
                             .format(X.shape))
        targets = self._targets(X, neuron_selection)
        spatial = X.shape[1:-1]
        maps = []
        for start in range(0, len(X), SAMPLES_PER_RUN):
            stop = start + SAMPLES_PER_RUN
            capacity = IBACopy.analyze(self, {self._model.input: X[start:stop]},
                                       {self._target: targets[start:stop]})
            capacity = capacity.reshape((-1,) + self.feature_shape())
            maps.extend(to_saliency_map(c, spatial or None, data_format="channels_last")
                        for c in capacity)
        saliency = np.stack(maps)
        if self._output == "input":
            saliency = np.repeat(saliency[..., None], X.shape[-1], axis=-1)
        return saliency

    # ------------------------------------------------------------------ saving
    def _get_state(self):
        state = AnalyzerBase._get_state(self)
        statistics = self.state_dict()
        state.update(
            neuron_selection_mode=self._neuron_selection_mode,
            feature_name=self._feature_name or self._original_feature.name,
            defaults=statistics["defaults"], estimator=statistics["estimator"],
            feature_mean=statistics["feature_mean"], feature_std=statistics["feature_std"],
            feature_active=statistics["feature_active"], output=self._output)
        return state

    @classmethod
    def _state_to_kwargs(cls, state):
        state = dict(state)
        estimator_state = state.pop("estimator")
        estimator = WelfordEstimator().load_state_dict(estimator_state) \
            if estimator_state["n"] else None
        selection = state.get if _BASE_HAS_SELECTION else state.pop  # the base pops it too
        kwargs = dict(neuron_selection_mode=selection("neuron_selection_mode"),
                      feature_name=state.pop("feature_name"), estimator=estimator,
                      feature_mean=state.pop("feature_mean"),
                      feature_std=state.pop("feature_std"),
                      feature_active=state.pop("feature_active"), output=state.pop("output"))
        kwargs.update(state.pop("defaults"))
        kwargs.update(AnalyzerBase._state_to_kwargs.__func__(cls, state))
        return kwargs

    @staticmethod
    def load(class_name, state):
        """Rebuilds an analyzer from :meth:`save`'s ``(class_name, state)``."""
        if class_name != IBACopyInnvestigate.__name__:
            return AnalyzerBase.load(class_name, state)
        return IBACopyInnvestigate(**IBACopyInnvestigate._state_to_kwargs(state))

    @staticmethod
    def load_npz(fname):
        """Rebuilds an analyzer from a file written by :meth:`save_npz`.

        (innvestigate's own ``load_npz`` cannot read its states with numpy >= 1.16.3, which
        refuses pickled arrays by default; this one allows them for this file.)
        """
        with np.load(fname, allow_pickle=True) as saved:
            class_name, state = saved["class_name"].item(), saved["state"].item()
        return IBACopyInnvestigate.load(class_name, state)


def register_with_innvestigate(innvestigate_module=None):
    """Makes ``innvestigate.create_analyzer("iba", model, ...)`` return IBACopyInnvestigate.

    Called when iba_tf and innvestigate are both imported; safe to call more than once.
    """
    import innvestigate.analyzer
    innvestigate.analyzer.analyzers["iba"] = IBACopyInnvestigate
    innvestigate.analyzer.IBACopyInnvestigate = IBACopyInnvestigate


register_with_innvestigate()
