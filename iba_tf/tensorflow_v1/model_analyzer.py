"""A loaded classifier and its IBA analyzer: model -> logits -> layer -> analyzer, once.

Used by ``iba-tf explain`` and by the data-set workers of ``iba-tf explain-dataset``.

Example:
    >>> explainer = ModelAnalyzer.build(load_keras_model("vgg16.h5"), steps=10)
    >>> explainer.analyzer.fit(x_train[:500])
    >>> maps, targets, predicted = explainer.explain(x_test[:4])
"""
import dataclasses

import numpy as np

from .compat import keras
from .innvestigate_analyzer import IBACopyInnvestigate
from .models import check_layer, default_feature_layer, is_softmax, model_wo_softmax, \
    targets_per_row

__all__ = ["ModelAnalyzer"]


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
            **hyperparameters: IBA hyperparameters (:mod:`iba_tf.hyperparameters`).

        Raises:
            iba_tf.errors.InputError: no such layer, or a bad hyperparameter.
        """
        if layer is not None:
            check_layer(model, layer)
        softmax = is_softmax(model)
        logits = model_wo_softmax(model) if softmax else model
        layer = layer or default_feature_layer(logits).name
        analyzer = IBACopyInnvestigate(
            logits, neuron_selection_mode="max_activation" if explain_predicted else "index",
            feature_name=layer, copy_session_config=copy_session_config, **hyperparameters)
        return cls(analyzer, logits, layer, softmax, int(logits.output.shape[-1]),
                   explain_predicted)

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
        targets = targets_per_row(targets, len(x), self.n_classes, keys=keys)
        maps, logits = self.analyzer.analyze(x, targets, return_predictions=True)
        return maps.astype(np.float32), targets, np.asarray(logits).argmax(axis=1)
