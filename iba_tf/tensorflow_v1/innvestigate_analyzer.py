"""IBACopyInnvestigate: the Per-Sample Bottleneck as an innvestigate analyzer."""
import inspect
import zipfile

import numpy as np
from innvestigate.analyzer.base import AnalyzerBase

from ..hyperparameters import DEFAULTS, is_int
from .compat import keras, keras_of, require_graph_mode, tf
from ..checks import check_finite, check_targets
from ..saliency import to_saliency_map
from ..utils import get_tqdm
from ..welford import WelfordEstimator
from .copy import IBACopy
from .models import default_feature_layer, feature_tensor as _feature_tensor, is_on_main_path

__all__ = ["IBACopyInnvestigate", "default_feature_layer", "is_on_main_path"]

# Samples optimised together in one run of analyze: each has its own alpha and target.
SAMPLES_PER_RUN = 8
# Samples per session run while estimating the statistics with fit(X).
FIT_BATCH = 32
OUTPUTS = ("saliency", "input")
# innvestigate's (Keras') fit keywords that make no difference to estimating statistics
IGNORED_FIT_KEYWORDS = ("max_queue_size", "workers", "use_multiprocessing", "steps_per_epoch",
                        "disable_no_training_warning")
# innvestigate 2 keeps neuron_selection_mode in AnalyzerBase's own state; 1.0.9 does not.
_BASE_HAS_SELECTION = "neuron_selection_mode" in inspect.signature(
    AnalyzerBase.__init__).parameters
#: The methods and properties of :class:`~iba_tf.IBACopy` that the analyzer offers too; they act
#: on the analyzer's copy (:attr:`IBACopyInnvestigate.copy`).
IBACOPY_API = frozenset([
    "update_variables", "assert_variables_equal", "get_copied_outputs", "copied_graph",
    "copied_session", "copied_session_and_graph_as_default", "get_feature", "restrict_flow",
    "collect", "collect_all", "available_report_variables", "get_report", "set_default",
    "get_default", "estimator", "state_dict", "load_state_dict", "feature_shape"])


class IBACopyInnvestigate(AnalyzerBase):
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
            :func:`~iba_tf.tensorflow_v1.models.default_feature_layer`.
        estimator, feature_mean, feature_std, feature_active: feature statistics.
        batch_size, steps, beta, learning_rate, min_std, smooth_std, normalize_beta: default
            hyperparameters (see :class:`IBALayer`); change them with :meth:`IBACopy.set_default() <iba_tf.IBACopy.set_default>`.
        session: the model's session; None uses Keras' session.
        copy_session_config: config of the copy's session.
        disable_model_checks (bool): kept for innvestigate compatibility (IBA has no checks).
        output (str): ``"saliency"`` (default): :meth:`analyze` returns bits per pixel,
            ``(N, H, W)`` for images, ``(N, T)`` for sequences; ``"input"``: the same maps
            repeated over the channels, ``X.shape``, as innvestigate's own analyzers return
            and its perturbation tools expect.
        **keras_kwargs: ``name`` names the bottleneck's scope in the copied graph (see
            :class:`~iba_tf.IBACopy`).

    The analyzer has an :class:`~iba_tf.IBACopy` (:attr:`copy`) and offers its API
    (``IBACOPY_API``: ``update_variables()`` after the model's weights change,
    ``restrict_flow()``, ``collect()`` / ``get_report()``, ``set_default()``, ``state_dict()``,
    ...), acting on that copy.

    Example:
        >>> analyzer = IBACopyInnvestigate(model, feature_name="block4_conv1")
        >>> analyzer.fit(x_train[:1000])
        >>> saliency = analyzer.analyze(x_test[:4])          # (4, 224, 224), bits per pixel
    """

    def __init__(self, model, neuron_selection_mode="max_activation", feature_name=None,
                 estimator=None, feature_mean=None, feature_std=None, feature_active=None,
                 batch_size=DEFAULTS["batch_size"], steps=DEFAULTS["steps"],
                 beta=DEFAULTS["beta"], learning_rate=DEFAULTS["learning_rate"],
                 min_std=DEFAULTS["min_std"], smooth_std=DEFAULTS["smooth_std"],
                 normalize_beta=DEFAULTS["normalize_beta"], session=None, copy_session_config=None,
                 disable_model_checks=False, output="saliency", **keras_kwargs):
        require_graph_mode(type(self).__name__)
        _check_arguments(model, neuron_selection_mode, output)
        feature = _feature_tensor(model, feature_name)
        if output == "input" and isinstance(feature, tf.Tensor) and feature.shape.ndims == 2:
            raise ValueError("output='input' needs a feature with spatial axes; {} has shape "
                             "{} (bits per neuron). Use output='saliency' or another "
                             "feature_name.".format(feature.name, feature.shape))
        self._copy = IBACopy(feature, model.output, estimator=estimator,
                             feature_mean=feature_mean, feature_std=feature_std,
                             feature_active=feature_active, graph=model.output.graph,
                             session=session, copy_session_config=copy_session_config,
                             batch_size=batch_size, steps=steps, beta=beta,
                             learning_rate=learning_rate, min_std=min_std,
                             smooth_std=smooth_std, normalize_beta=normalize_beta,
                             **keras_kwargs)
        # innvestigate 2 keeps neuron_selection_mode in the base's state; 1.0.9 in the subclass
        base_kwargs = dict(neuron_selection_mode=neuron_selection_mode) \
            if _BASE_HAS_SELECTION else {}
        super().__init__(model, disable_model_checks=disable_model_checks, **base_kwargs)
        self._neuron_selection_mode = neuron_selection_mode
        self._feature_name = feature_name
        self._output = output
        self._target = self._copy.set_classification_loss()

    @property
    def copy(self):
        """The :class:`~iba_tf.IBACopy` that holds the copied tail and the bottleneck."""
        return self._copy

    def __getattr__(self, name):
        # The IBACopy API (update_variables, restrict_flow, get_report, ...) acts on the copy.
        copy = self.__dict__.get("_copy")
        if copy is not None and name in IBACOPY_API:
            return getattr(copy, name)
        raise AttributeError("{!r} object has no attribute {!r}".format(
            type(self).__name__, name))

    # ------------------------------------------------------------------ statistics
    def fit(self, X, batch_size=FIT_BATCH, epochs=1, verbose=0, session=None, run_kwargs=None,
            progbar=False, **innvestigate_kwargs):
        """Estimates the feature mean and std from the samples ``X`` (about 5000 is good).

        Takes innvestigate's keywords, so that code written for its trainable analyzers runs
        unchanged: ``batch_size`` (samples per session run), ``epochs`` (passes over ``X``),
        ``verbose`` (a progress bar, as ``progbar``); Keras' queue options
        (``max_queue_size``, ``workers``, ``use_multiprocessing``, ``steps_per_epoch``) are
        accepted and have no effect. Ensure the model is in inference mode (Keras: the
        default learning phase).

        Raises:
            ValueError: for an empty batch, a wrong shape or non-finite samples (nothing is
                fitted then).
        """
        unknown = sorted(set(innvestigate_kwargs) - set(IGNORED_FIT_KEYWORDS))
        if unknown:
            raise TypeError("fit() got unexpected keyword argument(s) {}.".format(unknown))
        X = self._checked_samples(X, "fit")
        if not (is_int(batch_size) and batch_size >= 1) or not (is_int(epochs) and epochs >= 1):
            raise ValueError("batch_size and epochs must be ints >= 1, got {!r} and {!r}."
                             .format(batch_size, epochs))
        with get_tqdm()(total=len(X) * epochs, disable=not (progbar or verbose),
                        desc="Estimating", unit="sample") as bar:
            for start in [s for _ in range(epochs) for s in range(0, len(X), batch_size)]:
                self._copy.fit({self._model.input: X[start:start + batch_size]},
                               session=session, run_kwargs=run_kwargs)
                bar.update(len(X[start:start + batch_size]))

    def _checked_samples(self, X, what):
        """``X`` as a float array of the model's input shape with >= 1 finite sample."""
        try:
            X = np.asarray(X, dtype=np.float32)
        except (TypeError, ValueError):
            raise ValueError("{}: X must be a numeric array of samples, got {!r}.".format(
                what, type(X).__name__)) from None
        expected = tuple(keras.backend.int_shape(self._model.input)[1:])
        if X.ndim != len(expected) + 1 or len(X) == 0 or any(
                e is not None and e != d for e, d in zip(expected, X.shape[1:])):
            raise ValueError("{}: X has shape {}, but the model takes a batch of at least one "
                             "sample of shape {}.".format(what, X.shape, expected))
        return check_finite(X, "{}: X".format(what), "replace or drop the non-finite samples")

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
                self._copy.fit({self._model.input: samples}, session=session)
                bar.update(1)

    # ------------------------------------------------------------------ analysis
    def predict(self, X):
        """Returns the copy's logits for ``X`` (equal to ``model.predict(X)``)."""
        return self._copy.predict({self._model.input: np.asarray(X)})

    def _selected_targets(self, n, neuron_selection):
        """The targets of ``neuron_selection`` for ``n`` samples (index mode), checked; None
        for max_activation, whose targets come from the logits."""
        if self._neuron_selection_mode == "max_activation":
            if neuron_selection is not None:
                raise ValueError("neuron_selection is only used with neuron_selection_mode="
                                 "'index'; this analyzer uses 'max_activation'.")
            return None
        if neuron_selection is None:
            raise ValueError("neuron_selection_mode 'index' needs neuron_selection: the class "
                             "to explain, an int or one per sample.")
        n_classes = int(self._copy.get_copied_outputs().shape[-1])
        return check_targets(neuron_selection, n, n_classes, name="neuron_selection")

    def _targets(self, X, neuron_selection):
        """One target per sample of ``X``."""
        targets = self._selected_targets(len(X), neuron_selection)
        return self.predict(X).argmax(axis=1) if targets is None else targets

    def analyze(self, X, neuron_selection=None, return_predictions=False):
        """Returns one saliency map per sample of ``X``, each for its own target.

        The model's head (up to the feature) runs once per batch of samples, for both the
        targets and the optimisation.

        Args:
            X: a batch of samples, as the model takes them.
            neuron_selection: with ``neuron_selection_mode="index"``, the class to explain: an
                int for every sample or one per sample.
            return_predictions (bool): also return the logits the maps were computed for.

        Returns:
            np.ndarray: bits per pixel, ``(N, H, W)`` for images, ``(N, T)`` for sequences; with
            ``output="input"``, repeated over the channels to ``X.shape``. A feature without
            spatial axes (a Dense layer's) gives bits per neuron, ``(N, units)``. With
            ``return_predictions``, a tuple ``(maps, logits)``, logits ``(N, classes)``.
        """
        X = self._checked_samples(X, "analyze")
        targets = self._selected_targets(len(X), neuron_selection)
        maps, logits = [], []
        for start in range(0, len(X), SAMPLES_PER_RUN):
            stop = start + SAMPLES_PER_RUN
            batch_maps, batch_logits = self._analyze_batch(
                X[start:stop], None if targets is None else targets[start:stop])
            maps.extend(batch_maps)
            logits.append(batch_logits)
        saliency = np.stack(maps)
        if self._output == "input":
            saliency = np.repeat(saliency[..., None], X.shape[-1], axis=-1)
        return (saliency, np.concatenate(logits)) if return_predictions else saliency

    def _analyze_batch(self, X, targets):
        feature, fed = self._copy.original_values({self._model.input: X})
        logits = self._copy.predict_values(feature, fed)
        if targets is None:
            targets = logits.argmax(axis=1)
        capacity = self._copy.analyze_values(feature, fed, {self._target: targets})
        capacity = capacity.reshape((-1,) + self.feature_shape())
        if capacity.ndim == 2:      # a feature without spatial axes: bits per neuron
            return list(capacity / np.log(2)), logits
        spatial = X.shape[1:-1]
        return [to_saliency_map(c, spatial or None, data_format="channels_last")
                for c in capacity], logits

    # ------------------------------------------------------------------ saving
    def _get_state(self):
        state = super()._get_state()
        statistics = self._copy.state_dict()
        state.update(
            neuron_selection_mode=self._neuron_selection_mode,
            feature_name=self._feature_name or statistics["feature"],
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
        kwargs.update(super()._state_to_kwargs(state))
        return kwargs

    @staticmethod
    def load(class_name, state):
        """Rebuilds an analyzer from ``save()``'s ``(class_name, state)``."""
        if class_name != IBACopyInnvestigate.__name__:
            return AnalyzerBase.load(class_name, state)
        return IBACopyInnvestigate(**IBACopyInnvestigate._state_to_kwargs(state))

    @staticmethod
    def load_npz(fname):
        """Rebuilds an analyzer from a file written by ``save_npz()``.

        (innvestigate's own ``load_npz`` cannot read its states with numpy >= 1.16.3, which
        refuses pickled arrays by default; this one allows them for this file.)
        """
        return IBACopyInnvestigate.load(*read_saved_analyzer(fname))


def _check_arguments(model, neuron_selection_mode, output):
    keras_of(model)     # a keras or a tf.keras model (TypeError otherwise)
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
    channels_first = [layer.name for layer in _all_layers(model)
                      if getattr(layer, "data_format", None) == "channels_first"]
    if channels_first:
        raise ValueError(
            "The model {} has layers with data_format='channels_first' ({}); IBA's maps assume "
            "channels_last. Rebuild the model with data_format='channels_last' (the default) "
            "and transpose the inputs to (N, H, W, C).".format(
                model.name, ", ".join(channels_first[:5])))
    if model.output.op.type == "Softmax":
        raise ValueError(
            "The model {} ends with a softmax; IBA needs the logits. Use "
            "iba_tf.model_wo_softmax(model).".format(model.name))


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.models.Model):
            yield from _all_layers(layer)


def read_saved_analyzer(fname):
    """Returns ``(class_name, state)`` from a file that an analyzer's ``save_npz`` wrote.

    Shared by the analyzers' ``load_npz``. Raises ValueError naming the file and what is wrong
    with it (not readable, a single array, keys missing, damaged or truncated).
    """
    try:
        saved = np.load(fname, allow_pickle=True)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError("{} is not a readable .npz file ({}: {}); write it with "
                         "analyzer.save_npz(fname).".format(
                             fname, type(error).__name__, error)) from None
    if not isinstance(saved, np.lib.npyio.NpzFile):
        raise ValueError("{} holds a single array, not an analyzer saved with save_npz."
                         .format(fname))
    with saved:
        missing = sorted({"class_name", "state"} - set(saved.files))
        if missing:
            raise ValueError("{} is not an analyzer file: it lacks {} (it holds {}); write "
                             "it with analyzer.save_npz(fname).".format(
                                 fname, ", ".join(missing), sorted(saved.files)))
        try:
            class_name, state = saved["class_name"].item(), saved["state"].item()
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            raise ValueError("{} is damaged or truncated ({}: {}); save the analyzer "
                             "again.".format(fname, type(error).__name__, error)) from None
    return class_name, state
