"""IBALayer: the Per-Sample Bottleneck as a Keras layer you add to your own model."""
from .compat import tf, keras, tf_keras, require_graph_mode
from ..hyperparameters import DEFAULTS, docstring_section
from .bottleneck import Bottleneck
from .explainer import BottleneckMethods
from .session import SessionHome

__all__ = ["IBALayer", "TFKerasIBALayer", "make_iba_layer"]


class _IBALayerMethods(BottleneckMethods):
    """The Per-Sample Information Bottleneck as a Keras layer.

    Add the layer after the feature map you want to explain. While the model trains or
    predicts, it is exactly the identity. :meth:`analyze` replaces the feature ``R`` by
    ``Z = lambda * R + (1 - lambda) * eps`` with noise ``eps ~ N(mean, std^2)`` and optimises
    ``lambda = blur(sigmoid(alpha))`` for one input, so that as little information as possible
    passes (the capacity, in nats per neuron) while the model still predicts the target.

    Args:
        estimator (WelfordEstimator): a fitted estimator of the feature's mean and std; None
            creates an empty one that :meth:`fit` fills.
        feature_mean (np.ndarray): the feature's per-neuron mean (shape of one feature map);
            give it with ``feature_std`` instead of an estimator.
        feature_std (np.ndarray): the feature's per-neuron standard deviation.
        feature_active (np.ndarray): per-neuron flag; where 0, the neuron outputs 0 and passes
            no information. Default: all neurons active (with an estimator: the neurons that
            are non-zero in more than 1% of the samples).
{hyperparameters}
        **kwargs: keras layer keyword arguments such as ``name``.

    Every hyperparameter given to :meth:`analyze` overrides the default for that call only;
    :meth:`set_default` changes the defaults. 0 and False are honoured as values.

    Example:
        >>> model = keras.Sequential([
        ...     keras.layers.Conv2D(8, 3, activation="relu", input_shape=(32, 32, 3)),
        ...     IBALayer(name="iba"),
        ...     keras.layers.Flatten(),
        ...     keras.layers.Dense(10)])
        >>> iba = model.get_layer("iba")
        >>> target = iba.set_classification_loss(model.output)
        >>> iba.fit({model.input: train_images})
        >>> capacity = iba.analyze({model.input: image[None], target: 3})
        >>> saliency = to_saliency_map(capacity, image.shape[:2])

    ``analyze`` runs all steps in one ``session.run``: an in-graph loop over a copy of the
    layers between the bottleneck and the loss, built on the first call (and once more per set
    of :meth:`collect` ed names). Keras' learning-phase switches (Dropout, BatchNormalization)
    are folded to their inference branch there (:mod:`~iba_tf.tensorflow_v1.cond_folding`).
    Where that part of the model cannot run inside a ``tf.while_loop`` (another ``tf.cond``, a
    stateful op such as a random draw), when the feed sets the learning phase to 1, and with
    ``progbar=True``, it runs one ``session.run`` per step instead, with the same result;
    ``loop_fallback`` then says why it could not be built. Set ``in_graph_loop = False`` to
    force the step-by-step path.

    The statistics are not model weights: a model saved with ``model.save`` keeps the layer's
    hyperparameters, and :meth:`state_dict` / :meth:`load_state_dict` keep the statistics.
    """

    def __init__(self, estimator=None, feature_mean=None, feature_std=None, feature_active=None,
                 batch_size=DEFAULTS["batch_size"], steps=DEFAULTS["steps"],
                 beta=DEFAULTS["beta"], learning_rate=DEFAULTS["learning_rate"],
                 min_std=DEFAULTS["min_std"], smooth_std=DEFAULTS["smooth_std"],
                 normalize_beta=DEFAULTS["normalize_beta"], **kwargs):
        super().__init__(**kwargs)
        self._init_methods(estimator, feature_mean, feature_std, feature_active, dict(
            batch_size=batch_size, steps=steps, beta=beta, learning_rate=learning_rate,
            min_std=min_std, smooth_std=smooth_std, normalize_beta=normalize_beta))
        self.supports_masking = False

    # ------------------------------------------------------------------ keras
    def build(self, input_shape):
        """Creates the bottleneck's variables for a feature of shape ``input_shape``."""
        require_graph_mode("IBALayer")
        feature_shape = tuple(input_shape[1:])
        if any(dim is None for dim in feature_shape) or not feature_shape:
            raise ValueError(
                "IBALayer needs a feature map whose shape is known apart from the batch axis; "
                "got {}. Give the model a fixed input_shape.".format(tuple(input_shape)))
        self._bottleneck = Bottleneck(feature_shape, name="bottleneck")
        # analyze/fit from another thread run in the session of this graph (not a new one)
        self._home = SessionHome()
        super().build(input_shape)

    def call(self, inputs, **kwargs):
        """Returns the identity of ``inputs``, or the noisy feature when the flow is restricted.

        The flow is restricted inside :meth:`analyze` and :meth:`restrict_flow`.
        """
        return self._bottleneck.restrict(inputs)

    def compute_output_shape(self, input_shape):
        """Returns ``input_shape``: the bottleneck keeps the feature's shape."""
        return input_shape

    def get_config(self):
        """Returns the layer config: the keras options and the default hyperparameters."""
        config = super().get_config()
        config.update(self._defaults)
        return config

    # ------------------------------------------------------------------ where it lives
    def _feature_tensor(self):
        if self._objective is not None:
            return self._objective.application.inputs
        self._require_engine()
        return self._bottleneck.applications[-1].inputs

    def _feature_session(self, session):
        self._require_engine()
        return self._home.resolve(session)

    def _bottleneck_session(self, session):
        self._require_engine()
        return self._home.resolve(session)

    # ------------------------------------------------------------------ losses
    def set_classification_loss(self, logits, optimizer_cls=tf.train.AdamOptimizer):
        """Uses the softmax cross-entropy of ``logits`` for a target class as the model loss.

        Args:
            logits: the model's logits tensor ``(batch, classes)``, e.g. ``model.output``. Must
                not be a softmax output (see :func:`~iba_tf.model_wo_softmax`).
            optimizer_cls: only ``tf.train.AdamOptimizer`` is supported; the optimisation runs
                a graph-built Adam with the same update rule.

        Returns:
            tf.Tensor: the target placeholder (int, shape ``(n,)``): feed the explained class
            in :meth:`analyze`, a scalar or one per explained sample.
        """
        return self._classification_objective(logits, optimizer_cls)

    def set_model_loss(self, model_loss, optimizer_cls=tf.train.AdamOptimizer):
        """Sets the model loss of the objective ``model_loss + beta * capacity_mean``.

        Args:
            model_loss (tf.Tensor): either a vector with one loss per row of the model's batch
                (``(n * batch_size,)``; allows explaining several samples at once) or a scalar
                (its mean; then :meth:`analyze` takes one sample at a time).
            optimizer_cls: only ``tf.train.AdamOptimizer`` is supported.

        Example:
            >>> # explain a regression output: keep the prediction close to its target
            >>> y = tf.placeholder(tf.float32, [None])
            >>> iba.set_model_loss(tf.square(model.output[:, 0] - y))
        """
        self._model_objective(model_loss, optimizer_cls)

    # ------------------------------------------------------------------ analysis
    def analyze(self, feed_dict, batch_size=None, steps=None, beta=None, learning_rate=None,
                min_std=None, smooth_std=None, normalize_beta=None, session=None,
                pass_mask=None, progbar=False):
        """Optimises the bottleneck for the inputs in ``feed_dict`` and returns the capacity.

        Args:
            feed_dict (dict): the model inputs of the explained sample(s) and the target
                (e.g. ``{model.input: x, target: 3}``).
            batch_size, steps, beta, learning_rate, min_std, smooth_std, normalize_beta:
                override the defaults for this call (see the class docs).
            session (tf.Session): session to run in; None uses the default/Keras session.
            pass_mask (np.ndarray): feature-shaped; where 1, the neuron always passes
                unchanged (e.g. zero padding of sequences) and counts no capacity.
            progbar (bool): show a progress bar over the steps.

        Returns:
            np.ndarray: capacity in nats per neuron after the last step, shape of the feature
            map ``(h, w, c)``; with the classification loss, ``n`` samples in ``feed_dict``
            give ``(n, h, w, c)``. Convert it with :func:`~iba_tf.to_saliency_map`.
        """
        settings = self._analysis_settings(
            batch_size=batch_size, steps=steps, beta=beta, learning_rate=learning_rate,
            min_std=min_std, smooth_std=smooth_std, normalize_beta=normalize_beta)
        feed_dict = self._checked_feed(feed_dict)
        with self._lock:
            session = self._bottleneck_session(session)
            objective = self._objective
            # skip connections around the bottleneck are computed once, like the feature
            inputs = {key: value for key, value in feed_dict.items()
                      if key is not objective.target}
            values = session.run([objective.application.inputs] + objective.bypass, inputs)
            return self._optimize(session, values[0], feed_dict, settings, pass_mask, progbar,
                                  repeated=dict(zip(objective.bypass, values[1:])))


if _IBALayerMethods.__doc__:     # None under python -OO
    _IBALayerMethods.__doc__ = _IBALayerMethods.__doc__.replace(
        "{hyperparameters}", docstring_section(indent=8))


def make_iba_layer(keras_module):
    """Returns the IBALayer class built on ``keras_module.layers.Layer``.

    One engine, one set of methods, one class per Keras: on TensorFlow 1.15 the multi-backend
    Keras 2.3.1 (:class:`IBALayer`) and ``tf.keras`` (:class:`TFKerasIBALayer`) have separate
    ``Layer`` base classes, and a model accepts only layers of its own Keras. On TensorFlow 2
    both names are the same Keras, and :func:`make_iba_layer` is called once.

    Args:
        keras_module: ``keras`` or ``tf.keras``.
    """
    class IBALayer(_IBALayerMethods, keras_module.layers.Layer):
        __doc__ = _IBALayerMethods.__doc__

    IBALayer.__module__ = __name__
    IBALayer.__qualname__ = "IBALayer"
    return IBALayer


#: The IBALayer of the Keras that ``import keras`` gives (multi-backend Keras 2.3.1 on TensorFlow
#: 1.15, Keras 2.14 on TensorFlow 2).
IBALayer = make_iba_layer(keras)
#: The IBALayer of ``tf.keras`` (on TensorFlow 2 the same class as :class:`IBALayer`).
TFKerasIBALayer = IBALayer if tf_keras.layers.Layer is keras.layers.Layer else \
    make_iba_layer(tf_keras)
