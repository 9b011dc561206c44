"""A loaded classifier and its IBA analyzer: model -> logits -> layer -> analyzer, once.

Used by ``iba-tf explain`` and by the data-set workers of ``iba-tf explain-dataset``;
:class:`ReadoutModelAnalyzer` is the same for a trained Readout Bottleneck (``--readout``),
:class:`InputModelAnalyzer` for InputIBA's input-resolution maps (``--input-resolution``).

Example:
    >>> explainer = ModelAnalyzer.build(load_keras_model("vgg16.h5"), steps=10)
    >>> explainer.analyzer.fit(x_train[:500])
    >>> maps, targets, predicted = explainer.explain(x_test[:4])
"""
import dataclasses
import os
import typing

import numpy as np

from ..checks import check_result, check_targets
from ..errors import InputError
from .compat import keras
from .innvestigate_analyzer import IBACopyInnvestigate
from .input_iba import InputIBA
from .input_prior import PRIOR_SCALE
from .models import check_layer, default_feature_layer, is_softmax, model_wo_softmax

__all__ = ["ModelAnalyzer", "InputModelAnalyzer", "ReadoutModelAnalyzer", "logits_of"]


@dataclasses.dataclass
class ModelAnalyzer:
    """A model's logits, the layer its bottleneck is after, and the analyzer.

    Attributes:
        analyzer (IBACopyInnvestigate): the analyzer of :attr:`logits_model`.
        logits_model (keras.Model): the model, or its logits if it ends with a softmax.
        layer (str): the name of the layer the bottleneck is after.
        softmax_removed (bool): whether the model's softmax was removed.
        n_classes (int): the model's outputs.
        explain_predicted (bool): whether :meth:`explain` explains the predicted classes.
    """
    analyzer: IBACopyInnvestigate
    logits_model: keras.models.Model
    layer: str
    softmax_removed: bool
    n_classes: int
    explain_predicted: bool = True

    @classmethod
    def build(cls, model, layer=None, explain_predicted=True, copy_session_config=None,
              **hyperparameters):
        """Builds the analyzer for ``model`` (a softmax is removed: its logits are explained).

        Args:
            model (keras.Model): a classifier with one output.
            layer (str): the layer to put the bottleneck after; None:
                :func:`~iba_tf.tensorflow_v1.models.default_feature_layer` of the logits.
            explain_predicted (bool): True explains each sample's predicted class
                (``neuron_selection_mode="max_activation"``); False: :meth:`explain` takes
                the targets (``"index"``).
            copy_session_config: the config of the analyzer's session.
            **hyperparameters: IBA hyperparameters (:mod:`iba_tf.hyperparameters`);
                :class:`InputModelAnalyzer` also takes ``input_settings``, ``prior_scale``,
                ``prior`` and ``gan_settings`` (its input stage's).

        Raises:
            iba_tf.errors.InputError: no such layer, or a bad hyperparameter.
        """
        if layer is not None:
            check_layer(model, layer)
        logits, softmax = logits_of(model)
        layer = layer or default_feature_layer(logits).name
        mode = "max_activation" if explain_predicted else "index"
        analyzer = cls._analyzer(logits, mode, layer, copy_session_config, hyperparameters)
        return cls(analyzer, logits, layer, softmax, int(logits.output.shape[-1]),
                   explain_predicted)

    @staticmethod
    def _analyzer(logits, mode, layer, copy_session_config, hyperparameters):
        return IBACopyInnvestigate(logits, neuron_selection_mode=mode, feature_name=layer,
                                   copy_session_config=copy_session_config,
                                   **hyperparameters)

    def explain(self, x, targets=None, keys=None):
        """Explains a batch: the model's head runs once per sample for targets and maps.

        Args:
            x: the preprocessed batch.
            targets: the classes to explain (one int, or one per sample); None (and only None)
                when the analyzer explains the predicted classes.
            keys (list): names of the samples, for error messages.

        Returns:
            tuple: ``(maps, targets, predicted)``: the saliency maps (float32), the explained
            and the predicted class of each sample (int64 arrays).

        Raises:
            iba_tf.errors.InputError: a target that is no class of the model.
        """
        if self.explain_predicted:
            if targets is not None:
                raise ValueError("this ModelAnalyzer explains the predicted classes; build it "
                                 "with explain_predicted=False to give targets")
            maps, logits = self.analyzer.analyze(x, return_predictions=True)
            predicted = np.asarray(logits).argmax(axis=1)
            return maps.astype(np.float32), predicted, predicted
        targets = check_targets(targets, len(x), self.n_classes, keys=keys)
        maps, logits = self.analyzer.analyze(x, targets, return_predictions=True)
        return maps.astype(np.float32), targets, np.asarray(logits).argmax(axis=1)


class InputModelAnalyzer(ModelAnalyzer):
    """A model's logits and its :class:`~iba_tf.tensorflow_v1.input_iba.InputIBA`: maps at
    the input's resolution.

    Stage 1 (the Per-Sample Bottleneck after :attr:`layer`) guides a bottleneck on the input
    itself; the maps are bits per input pixel (``docs/input_iba.md``). Same interface as
    :class:`ModelAnalyzer`: :meth:`ModelAnalyzer.build` (its IBA hyperparameters set stage 1;
    ``input_settings`` (a dict) and ``prior_scale`` set the input stage, whose defaults are
    :data:`~iba_tf.tensorflow_v1.input_prior.INPUT_DEFAULTS` and ``PRIOR_SCALE``; ``prior``
    (``"feature"`` or ``"gan"``) and ``gan_settings`` (over ``GAN_DEFAULTS``) its prior),
    ``analyzer.fit(x)`` estimates the feature and the input statistics,
    :meth:`ModelAnalyzer.explain` returns ``(maps, targets, predicted)``.

    Example:
        >>> explainer = InputModelAnalyzer.build(load_keras_model("cnn.h5"), "conv2", steps=5,
        ...                                      input_settings={"beta": 5}, prior_scale=0.5)
        >>> explainer.analyzer.fit(x_train[:500])
        >>> maps, targets, predicted = explainer.explain(x_test[:4])
    """

    @staticmethod
    def _analyzer(logits, mode, layer, copy_session_config, hyperparameters):
        # the hyperparameters set stage 1 (the feature bottleneck after ``layer``); the input
        # stage has its own (missing ones: input_prior.INPUT_DEFAULTS)
        hyperparameters = dict(hyperparameters)
        input_settings = hyperparameters.pop("input_settings", None)
        prior_scale = hyperparameters.pop("prior_scale", PRIOR_SCALE)
        prior = hyperparameters.pop("prior", "feature")
        gan_settings = hyperparameters.pop("gan_settings", None)
        return InputIBA(logits, neuron_selection_mode=mode, feature_name=layer,
                        feature_settings=hyperparameters, input_settings=input_settings,
                        prior_scale=prior_scale, copy_session_config=copy_session_config,
                        prior=prior, gan_settings=gan_settings)


def logits_of(model):
    """``(logits model, whether a softmax was removed)`` of a classifier with one output."""
    softmax = is_softmax(model)
    return (model_wo_softmax(model) if softmax else model), softmax


@dataclasses.dataclass
class ReadoutModelAnalyzer:
    """A model's logits and a trained :class:`~iba_tf.IBAReadout` loaded for them.

    Explains a batch in one pass (no optimisation per input), always for the model's own
    prediction: the readout sees no class index. Same interface as :class:`ModelAnalyzer`.

    Attributes:
        readout (iba_tf.IBAReadout): the loaded readout.
        logits_model (keras.Model): the model, or its logits if it ends with a softmax.
        layer (str): the readout's attach layer.
        softmax_removed (bool): whether the model's softmax was removed.
        n_classes (int): the model's outputs.
        explain_predicted (bool): always True.

    Example:
        >>> explainer = ReadoutModelAnalyzer.load(load_keras_model("cnn.h5"), "readout.npz")
        >>> maps, targets, predicted = explainer.explain(x_test[:64])
    """
    readout: typing.Any
    logits_model: keras.models.Model
    layer: str
    softmax_removed: bool
    n_classes: int
    explain_predicted: bool = True

    @classmethod
    def load(cls, model, path, layer=None):
        """Loads the readout saved in ``path`` (by ``IBAReadout.save``) for ``model``'s logits.

        Args:
            model (keras.Model): the classifier (a softmax is removed, as for training).
            path (str): the readout file.
            layer (str): None, or the attach layer the readout must have (``--layer``).

        Raises:
            iba_tf.errors.InputError: the file is missing, no readout file, saved for another
                model, or attached after another layer than ``layer``.
        """
        from .readout import IBAReadout
        if not os.path.isfile(path):
            raise InputError("readout file not found: {}; train one with 'iba-tf "
                             "train-readout'".format(path))
        logits, softmax = logits_of(model)
        try:
            readout = IBAReadout.load(path, logits)
        except ValueError as error:
            raise InputError(str(error).strip().splitlines()[0]) from None
        if layer is not None and layer != readout.attach_layer:
            raise InputError("--layer {} does not fit the readout {}, which is attached after "
                             "layer {}; drop --layer or train a readout for {}".format(
                                 layer, path, readout.attach_layer, layer))
        return cls(readout, logits, readout.attach_layer, softmax,
                   int(logits.output.shape[-1]))

    def explain(self, x, targets=None, keys=None):
        """Explains a batch in one pass; returns ``(maps, predicted, predicted)``.

        Raises:
            iba_tf.errors.InputError: ``targets`` given (the readout explains no chosen class).
            iba_tf.checks.NonFiniteResultError: a map holds NaN or inf.
        """
        if targets is not None:
            raise InputError("the readout explains the model's prediction (it sees no class "
                             "index); drop the target, or explain a chosen class without "
                             "--readout")
        maps = check_result(self.readout.analyze(x), "The readout")
        predicted = np.asarray(self.logits_model.predict(x)).argmax(axis=1)
        return maps.astype(np.float32), predicted, predicted
