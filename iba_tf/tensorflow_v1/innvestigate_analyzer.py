"""IBACopyInnvestigate: the Per-Sample Bottleneck as an innvestigate analyzer."""
import inspect

import numpy as np
from innvestigate.analyzer.base import AnalyzerBase

from ..hyperparameters import DEFAULTS
from .compat import keras, keras_of
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
        _check_arguments(model, neuron_selection_mode, output)
        feature = _feature_tensor(model, feature_name)
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
    def fit(self, X, session=None, run_kwargs=None, progbar=False):
        """Estimates the feature mean and std from the samples ``X`` (about 5000 is good).

        Ensure the model is in inference mode (Keras: the default learning phase).
        """
        X = np.asarray(X)
        with get_tqdm()(total=len(X), disable=not progbar, desc="Estimating",
                        unit="sample") as bar:
            for start in range(0, len(X), FIT_BATCH):
                self._copy.fit({self._model.input: X[start:start + FIT_BATCH]},
                               session=session, run_kwargs=run_kwargs)
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
        targets = np.asarray(neuron_selection)
        if targets.ndim == 0:
            targets = np.full(n, int(targets))
        if targets.ndim != 1 or len(targets) != n:
            raise ValueError("neuron_selection has {} entries for {} samples: give one int or "
                             "one per sample.".format(targets.size, n))
        n_classes = int(self._copy.get_copied_outputs().shape[-1])
        bad = [int(t) for t in targets if not 0 <= t < n_classes]
        if bad:
            raise ValueError("neuron_selection {} out of range: the model has {} outputs."
                             .format(bad, n_classes))
        return targets.astype(np.int64)

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
            ``output="input"``, repeated over the channels to ``X.shape``. With
            ``return_predictions``, a tuple ``(maps, logits)``, logits ``(N, classes)``.
        """
        X = np.asarray(X)
        if X.ndim < 2 or len(X) == 0:
            raise ValueError("X must be a batch with at least one sample, got shape {}."
                             .format(X.shape))
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
        with np.load(fname, allow_pickle=True) as saved:
            class_name, state = saved["class_name"].item(), saved["state"].item()
        return IBACopyInnvestigate.load(class_name, state)


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
    if model.output.op.type == "Softmax":
        raise ValueError(
            "The model {} ends with a softmax; IBA needs the logits. Use "
            "iba_tf.model_wo_softmax(model).".format(model.name))

