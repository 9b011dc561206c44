"""InputIBA: a bottleneck on the model's input, guided by the feature-level bottleneck.

After Zhang et al., "Fine-Grained Neural Network Explanation by Identifying Input Features
with Predictive Information" (NeurIPS 2021). Per input, on graph copies (the user's model is
never edited):

1. the Per-Sample Bottleneck at a feature layer (as ``"iba"``, an :class:`~iba_tf.IBACopy`)
   gives the feature map's capacity, upsampled to the input (bits per pixel);
2. the prior mask: that map scaled to ``[0, prior_scale]`` (``prior="feature"``, the
   default), or (``prior="gan"``) the input mask of a per-input Wasserstein GAN that starts
   from it and learns to make the feature bottleneck's restricted features
   (:mod:`~iba_tf.tensorflow_v1.input_gan`), scaled likewise;
3. a second bottleneck on the input itself (noise from the per-pixel input statistics, the
   blur of its mask in input pixels) is optimised with the model loss plus beta x an
   information term that is taken relative to the prior mask (``ops.prior_capacity``).

The map is the input bottleneck's capacity (relative to the data distribution) summed over
the input's channels, in bits per input pixel. ``docs/input_iba.md`` says what departs from
the paper.
"""
import numpy as np
from innvestigate.analyzer.base import AnalyzerBase

from .. import hyperparameters
from ..checks import check_targets
from ..errors import InputError
from ..saliency import to_saliency_map
from ..utils import get_tqdm
from .compat import keras, require_graph_mode
from .copy import IBACopy
from .innvestigate_analyzer import (IGNORED_FIT_KEYWORDS, _BASE_HAS_SELECTION, _check_arguments,
                                    read_saved_analyzer)
from .input_gan import InputGAN, channel_statistics
from .input_prior import PRIOR_SCALE, STAGE_DEFAULTS, Estimators, merged_settings, prior_masks
from .models import feature_tensor

__all__ = ["InputIBA"]

SAMPLES_PER_RUN = 8
FIT_BATCH = 32
OUTPUTS = ("saliency", "input")


class _InputCopy(IBACopy):
    """An :class:`IBACopy` of the whole model whose bottleneck takes a prior mask."""
    _bottleneck_options = {"prior": True}

    @property
    def prior(self):
        """The prior-mask placeholder of the copied graph."""
        return self._bottleneck.prior


class InputIBA(AnalyzerBase):
    """Input-resolution maps: an input bottleneck guided by the feature bottleneck.

    After ``import iba_tf``, ``innvestigate.create_analyzer("iba_input", model, ...)``
    returns this analyzer. Classification models with one input and one output (logits).

    Args:
        model (keras.Model): the model; its output must be logits (see
            :func:`~iba_tf.model_wo_softmax`).
        neuron_selection_mode (str): ``"max_activation"`` (each sample's top logit) or
            ``"index"`` (give ``neuron_selection`` to :meth:`analyze`).
        feature_name (str): the layer (or tensor name) of the feature stage; None picks
            :func:`~iba_tf.tensorflow_v1.models.default_feature_layer`.
        feature_settings (dict): hyperparameters of the feature stage (the seven of
            :mod:`iba_tf.hyperparameters`: ``beta``, ``steps``, ...); missing ones take
            ``hyperparameters.DEFAULTS``.
        input_settings (dict): hyperparameters of the input stage; missing ones take
            :data:`~iba_tf.tensorflow_v1.input_prior.INPUT_DEFAULTS` (the plain defaults, but
            20 steps, ``batch_size`` 4, ``smooth_std`` 0.5). Its ``smooth_std`` is in input pixels.
        prior_scale (float): in [0, 1]; the prior mask is the stage-1 map (or the GAN's
            mask) scaled to ``[0, prior_scale]`` (0 switches the guidance off). Default
            :data:`~iba_tf.tensorflow_v1.input_prior.PRIOR_SCALE`.
        prior (str): ``"feature"`` (the upsampled stage-1 map) or ``"gan"`` (the mask of a
            GAN fitted per input, :class:`~iba_tf.tensorflow_v1.input_gan.InputGAN`).
        gan_settings (dict): settings of the GAN stage; missing ones take
            :data:`~iba_tf.tensorflow_v1.input_prior.GAN_DEFAULTS`.
        session: the model's session; None uses Keras' session.
        copy_session_config: config of the two copies' sessions.
        output (str): ``"saliency"``: bits per input pixel ``(N, H, W)``; ``"input"``: the
            same repeated over the channels, ``X.shape``.
        disable_model_checks (bool): kept for innvestigate compatibility.

    A graph-level seed of the model's graph (``tf.set_random_seed``) seeds the noise of both
    stages: the same seed, model and inputs give the same maps.

    Example:
        >>> analyzer = InputIBA(model, feature_name="conv2", input_settings={"beta": 5})
        >>> analyzer.fit(x_train[:1000], verbose=1)
        >>> maps = analyzer.analyze(x_test[:4])             # (4, H, W), bits per pixel
    """

    def __init__(self, model, neuron_selection_mode="max_activation", feature_name=None,
                 feature_settings=None, input_settings=None, prior_scale=PRIOR_SCALE,
                 session=None, copy_session_config=None, output="saliency",
                 disable_model_checks=False, prior="feature", gan_settings=None):
        require_graph_mode("InputIBA")
        _check_arguments(model, neuron_selection_mode, output)
        shape = keras.backend.int_shape(model.inputs[0])
        if len(model.inputs) != 1 or len(shape) < 3 or None in shape[1:]:
            raise InputError(
                "InputIBA needs a model with one input of known shape (N, *spatial, "
                "channels); {} takes {}. Explain a dense-input model with 'iba'."
                .format(model.name, [keras.backend.int_shape(t) for t in model.inputs]))
        self._defaults = merged_settings(STAGE_DEFAULTS, feature_settings, input_settings,
                                         prior_scale, prior, gan_settings)
        feature = feature_tensor(model, feature_name)
        self._gan, self._gan_arguments = None, (model.input, feature, session,
                                                copy_session_config)
        graph = model.output.graph
        self._feature_copy = IBACopy(feature, model.output, graph=graph, session=session,
                                     copy_session_config=copy_session_config,
                                     name="feature_iba")
        self._check_feature(model)
        self._input_copy = _InputCopy(model.input, model.output, graph=graph, session=session,
                                      copy_session_config=copy_session_config, name="input_iba")
        self._targets_of = dict(feature=self._feature_copy.set_classification_loss(),
                                input=self._input_copy.set_classification_loss())
        base_kwargs = dict(neuron_selection_mode=neuron_selection_mode) \
            if _BASE_HAS_SELECTION else {}
        super().__init__(model, disable_model_checks=disable_model_checks, **base_kwargs)
        self._neuron_selection_mode = neuron_selection_mode
        self._feature_name = feature_name
        self._output = output

    def _check_feature(self, model):
        spatial = len(keras.backend.int_shape(model.input)) - 2
        feature_shape = self._feature_copy.feature_shape()
        if len(feature_shape) != spatial + 1:
            raise InputError(
                "feature_name: the feature {} has shape {}, but the prior of the input stage "
                "needs a feature map with the input's {} spatial axes and channels; choose a "
                "convolutional layer.".format(self._feature_copy.state_dict()["feature"],
                                              feature_shape, spatial))

    @property
    def feature_copy(self):
        """The :class:`~iba_tf.IBACopy` of the feature stage."""
        return self._feature_copy

    @property
    def input_copy(self):
        """The :class:`~iba_tf.IBACopy` of the input stage (its feature is the input)."""
        return self._input_copy

    # ------------------------------------------------------------------ settings
    def set_default(self, feature_settings=None, input_settings=None, prior_scale=None,
                    prior=None, gan_settings=None):
        """Updates the defaults of the stages (dicts of settings) or the prior."""
        self._defaults = merged_settings(self._defaults, feature_settings, input_settings,
                                         prior_scale, prior, gan_settings)

    def get_default(self):
        """Returns ``{"feature": {...}, "input": {...}, "prior_scale": float, "prior": str,
        "gan": {...}}``."""
        return dict(feature=dict(self._defaults["feature"]),
                    input=dict(self._defaults["input"]),
                    prior_scale=self._defaults["prior_scale"], prior=self._defaults["prior"],
                    gan=dict(self._defaults["gan"]))

    # ------------------------------------------------------------------ statistics, weights
    @property
    def estimator(self):
        """Both stages' estimators as one
        :class:`~iba_tf.tensorflow_v1.input_prior.Estimators` (``reset()`` resets both)."""
        return Estimators(self._feature_copy.estimator, self._input_copy.estimator)

    def update_variables(self):
        """Copies the model's current weights into the copies (after you change them)."""
        self._feature_copy.update_variables()
        self._input_copy.update_variables()
        if self._gan is not None:
            self._gan.update_variables()

    @property
    def gan(self):
        """The :class:`~iba_tf.tensorflow_v1.input_gan.InputGAN` of stage 2 (built on first
        use)."""
        if self._gan is None:
            model_input, feature, session, config = self._gan_arguments
            self._gan = InputGAN(model_input, feature, session=session, config=config)
        return self._gan

    def state_dict(self):
        """Returns ``{"feature": ..., "input": ...}``: each copy's ``IBACopy.state_dict()``
        (statistics and that copy's own defaults)."""
        return dict(feature=self._feature_copy.state_dict(),
                    input=self._input_copy.state_dict())

    def load_state_dict(self, state):
        """Restores :meth:`state_dict`'s output into both copies (checked by each)."""
        if not isinstance(state, dict) or set(state) != {"feature", "input"}:
            raise InputError("An InputIBA state must be a dict with the keys 'feature' and "
                             "'input', as state_dict() returns; got {!r}.".format(
                                 sorted(state) if isinstance(state, dict) else state))
        self._feature_copy.load_state_dict(state["feature"])
        self._input_copy.load_state_dict(state["input"])

    def fit(self, X, batch_size=FIT_BATCH, verbose=0, progbar=False, **innvestigate_kwargs):
        """Estimates the statistics of the feature and of the input from the samples ``X``.

        Takes innvestigate's ``batch_size`` and ``verbose`` (a progress bar, as
        ``progbar``); Keras' queue options are accepted and ignored.

        Raises:
            iba_tf.errors.InputError: an empty batch, a wrong shape or non-finite samples.
        """
        unknown = sorted(set(innvestigate_kwargs) - set(IGNORED_FIT_KEYWORDS))
        if unknown:
            raise TypeError("fit() got unexpected keyword argument(s) {}.".format(unknown))
        X = self._checked(X, "fit")
        if not (hyperparameters.is_int(batch_size) and batch_size >= 1):
            raise InputError("batch_size={!r} is invalid: it must be an int >= 1.".format(
                batch_size))
        with get_tqdm()(total=len(X), disable=not (progbar or verbose), desc="Estimating",
                        unit="sample") as bar:
            for start in range(0, len(X), batch_size):
                feed = {self._model.input: X[start:start + batch_size]}
                self._feature_copy.fit(feed)
                self._input_copy.fit(feed)
                bar.update(len(feed[self._model.input]))

    def _checked(self, X, what):
        try:
            X = np.asarray(X, dtype=np.float32)
        except (TypeError, ValueError):
            raise InputError("{}: X must be a numeric array of samples, got {!r}.".format(
                what, type(X).__name__)) from None
        expected = tuple(keras.backend.int_shape(self._model.input)[1:])
        if X.shape[1:] != expected or len(X) == 0:
            raise InputError("{}: X has shape {}, but the model takes a batch of at least one "
                             "sample of shape {}; reshape X.".format(what, X.shape, expected))
        if not np.isfinite(X).all():
            raise InputError("{}: X holds non-finite values; replace or drop those samples."
                             .format(what))
        return X

    # ------------------------------------------------------------------ analysis
    def _targets(self, X, neuron_selection):
        """One target per sample: the given classes (index mode) or the top logits."""
        n_classes = int(self._feature_copy.get_copied_outputs().shape[-1])
        if self._neuron_selection_mode == "max_activation":
            if neuron_selection is not None:
                raise InputError("neuron_selection={!r} is only used with neuron_selection_mode="
                                 "'index'; this analyzer explains each sample's top logit: drop "
                                 "it.".format(neuron_selection))
            return None
        if neuron_selection is None:
            raise InputError("neuron_selection_mode 'index' needs neuron_selection: the class "
                             "to explain, an int or one per sample.")
        return check_targets(neuron_selection, len(X), n_classes, name="neuron_selection")

    def analyze(self, X, neuron_selection=None, return_predictions=False, feature_settings=None,
                input_settings=None, prior_scale=None, progbar=False, prior=None,
                gan_settings=None):
        """Returns one input-resolution map per sample of ``X``, each for its own target.

        Args:
            X: a batch of samples, as the model takes them.
            neuron_selection: with ``neuron_selection_mode="index"``, the class to explain:
                an int for every sample or one per sample.
            return_predictions (bool): also return the logits the maps were computed for.
            feature_settings, input_settings (dict): hyperparameters of either stage for this
                call (over the defaults).
            prior_scale (float): the prior's largest weight for this call.
            progbar (bool): a progress bar over the samples.
            prior (str): the prior's source for this call (``"feature"`` or ``"gan"``).
            gan_settings (dict): the GAN's settings for this call (over the defaults).

        Returns:
            np.ndarray: bits per input pixel, ``(N, *spatial)`` (``X.shape`` with
            ``output="input"``); with ``return_predictions``, ``(maps, logits)``.

        Raises:
            iba_tf.errors.InputError: bad samples, targets or settings (nothing is run then).
        """
        X = self._checked(X, "analyze")
        targets = self._targets(X, neuron_selection)
        settings = merged_settings(self._defaults, feature_settings, input_settings,
                                   prior_scale, prior, gan_settings)
        maps, logits = [], []
        with get_tqdm()(total=len(X), disable=not progbar, desc="InputIBA",
                        unit="sample") as bar:
            for start in range(0, len(X), SAMPLES_PER_RUN):
                stop = start + SAMPLES_PER_RUN
                batch_maps, batch_logits = self._analyze_batch(
                    X[start:stop], None if targets is None else targets[start:stop], settings)
                maps.append(batch_maps)
                logits.append(batch_logits)
                bar.update(len(batch_maps))
        saliency = np.concatenate(maps)
        if self._output == "input":
            saliency = np.repeat(saliency[..., None], X.shape[-1], axis=-1)
        return (saliency, np.concatenate(logits)) if return_predictions else saliency

    def feature_maps(self, X, targets, settings):
        """Stage 1: the feature bottleneck's maps (bits per input pixel) and the logits."""
        copy = self._feature_copy
        feature, fed = copy.original_values({self._model.input: X})
        logits = copy.predict_values(feature, fed)
        if targets is None:
            targets = logits.argmax(axis=1)
        capacity = copy.analyze_values(feature, fed, {self._targets_of["feature"]: targets},
                                       **settings)
        capacity = capacity.reshape((-1,) + copy.feature_shape())
        spatial = X.shape[1:-1]
        maps = np.stack([to_saliency_map(c, spatial, data_format="channels_last")
                         for c in capacity])
        return maps, logits, targets

    def gan_masks(self, X, feature_maps, settings):
        """Stage 2: the input masks of GANs fitted to the last feature analysis (of ``X``).

        Args:
            X: the inputs the feature stage just explained.
            feature_maps: their stage-1 maps (the masks start from them).
            settings (dict): the GAN settings.

        Returns:
            np.ndarray: ``(n, *spatial)`` masks in [0, 1].
        """
        noise = channel_statistics(self._input_copy.estimator.mean(),
                                   self._input_copy.estimator.std())
        return self.gan.fit(X, prior_masks(feature_maps, 1, 1.)[..., 0],
                            self._feature_copy.last_restriction(),
                            self._feature_copy.get_feature({self._model.input: X}), noise,
                            settings)

    def _analyze_batch(self, X, targets, settings):
        feature_maps, logits, targets = self.feature_maps(X, targets, settings["feature"])
        if settings["prior"] == "gan":
            masks = self.gan_masks(X, feature_maps, settings["gan"])
            prior = np.repeat(settings["prior_scale"] * masks[..., None], X.shape[-1],
                              axis=-1).astype(np.float32)
        else:
            prior = prior_masks(feature_maps, X.shape[-1], settings["prior_scale"])
        copy = self._input_copy
        inputs, fed = copy.original_values({self._model.input: X})
        capacity = copy.analyze_values(
            inputs, fed, {self._targets_of["input"]: targets, copy.prior: prior},
            **settings["input"])
        capacity = capacity.reshape(X.shape)
        return capacity.sum(axis=-1) / np.log(2), logits

    # ------------------------------------------------------------------ saving
    def _get_state(self):
        state = super()._get_state()
        state.update(neuron_selection_mode=self._neuron_selection_mode,
                     feature_name=self._feature_name, output=self._output,
                     defaults=self.get_default(), statistics=self.state_dict())
        return state

    @classmethod
    def _state_to_kwargs(cls, state):
        state = dict(state)
        state.pop("statistics")       # loaded after construction, by load()
        selection = state.get if _BASE_HAS_SELECTION else state.pop  # the base pops it too
        defaults = state.pop("defaults")
        kwargs = dict(neuron_selection_mode=selection("neuron_selection_mode"),
                      feature_name=state.pop("feature_name"), output=state.pop("output"),
                      feature_settings=defaults["feature"], input_settings=defaults["input"],
                      prior_scale=defaults["prior_scale"],
                      # files written before the GAN stage lack these two
                      prior=defaults.get("prior", "feature"), gan_settings=defaults.get("gan"))
        kwargs.update(super()._state_to_kwargs(state))
        return kwargs

    @staticmethod
    def load(class_name, state):
        """Rebuilds an analyzer from ``save()``'s ``(class_name, state)``, statistics included."""
        if class_name != InputIBA.__name__:
            return AnalyzerBase.load(class_name, state)
        analyzer = InputIBA(**InputIBA._state_to_kwargs(state))
        analyzer.load_state_dict(state["statistics"])
        return analyzer

    @staticmethod
    def load_npz(fname):
        """Rebuilds an analyzer from a file written by ``save_npz()``."""
        return InputIBA.load(*read_saved_analyzer(fname))
