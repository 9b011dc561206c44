"""IBACopy: the bottleneck for models you cannot edit, inserted into a copy of their graph."""
import contextlib

import numpy as np

from ..hyperparameters import DEFAULTS
from .compat import tf
from . import ops
from .bottleneck import Bottleneck
from .explainer import BottleneckMethods
from .graph import Tail, get_tensor
from .session import resolve_session
from .transfer import Transfer, copy_variables, transfer_groups

__all__ = ["IBACopy", "import_tail"]


def import_tail(tail, restricted, noise_samples):
    """Imports ``tail`` into the default graph, reading ``restricted`` instead of its feature.

    Args:
        tail (Tail): the part of the original graph to copy.
        restricted (tf.Tensor): the tensor of the default graph that replaces the feature.
        noise_samples (tf.Tensor): rows per sample of ``restricted``; batch-shaped fed
            tensors are repeated as often.

    Returns:
        (outputs, fed, transfers): the copied outputs, one placeholder per ``tail.fed``
        tensor (feed it the original's value) and a :class:`Transfer` per copied variable.
    """
    input_map = {tail.feature.name: restricted}
    fed = []
    for tensor in tail.fed:
        placeholder = tf.placeholder(tensor.dtype, tensor.shape,
                                     name=tensor.op.name.replace("/", "_") + "_fed")
        fed.append(placeholder)
        # batch-shaped inputs are repeated like the feature: one row per noise sample
        batched = tensor.shape.ndims and tf.dimension_value(tensor.shape[0]) is None
        input_map[tensor.name] = (ops.repeat_rows(placeholder, noise_samples)
                                  if batched else placeholder)
    variable_names = [op.name + ":0" for op in tail.variables]
    imported = tf.import_graph_def(
        tail.graph_def(), input_map=input_map, name="copy",
        return_elements=[t.name for t in tail.outputs] + variable_names)
    outputs = imported[:len(tail.outputs)]
    graph = tf.get_default_graph()
    transfers = [Transfer(op, _variable_value(op), copy_variable, graph)
                 for op, copy_variable in zip(tail.variables, imported[len(tail.outputs):])]
    return outputs, fed, transfers


def _variable_value(variable_op):
    """A tensor of the original graph that reads the variable.

    An existing plain read is reused (reads with control dependencies, e.g. after a
    moving-average update, would run that update); only if there is none, one read op is
    added to the original graph.
    """
    if variable_op.type != "VarHandleOp":
        return variable_op.outputs[0]
    graph = variable_op.graph
    for consumer in variable_op.outputs[0].consumers():
        if (consumer.type == "ReadVariableOp" and not consumer.control_inputs
                and graph.is_fetchable(consumer)):
            return consumer.outputs[0]
    with graph.as_default(), tf.name_scope(None):
        return tf.raw_ops.ReadVariableOp(resource=variable_op.outputs[0],
                                         dtype=variable_op.get_attr("dtype"))


class IBACopy(BottleneckMethods):
    """Explains a model you cannot edit by copying the part of its graph after the feature.

    The ops between ``feature`` and ``outputs`` (the "tail") are copied with
    ``tf.import_graph_def`` into a new graph, where the bottleneck replaces the feature. Only
    the tail and the variables it reads are copied (not the whole graph), and the variables
    stay variables (not constants), so the copy costs about the tail's weights in memory. The
    original graph and session are never changed.

    Tensors the tail reads that do not depend on the feature but on the model's inputs (skip
    connections around the feature, other inputs, the Keras learning phase) are computed in the
    original session from ``feature_feed_dict`` and fed to the copy.

    Args:
        feature (tf.Tensor or str): the feature tensor (or its name) to restrict.
        outputs (tf.Tensor, str or list): the model output(s) (tensors or names); the first is
            the logits for :meth:`set_classification_loss`.
        estimator, feature_mean, feature_std, feature_active: feature statistics, as for
            :class:`IBALayer`.
        graph (tf.Graph): the graph of ``feature``; None uses the tensor's graph (or the
            default graph for names).
        session (tf.Session): the session of the original model; None uses the default (or
            Keras') session of that graph.
        copy_session_config (tf.ConfigProto): config of the copy's new session.
        batch_size, steps, beta, learning_rate, min_std, smooth_std, normalize_beta: default
            hyperparameters, as for :class:`IBALayer`.
        **keras_kwargs: kept from the layer API: ``name`` names the bottleneck's scope in the
            copied graph. IBACopy is not a Keras layer, so other layer options are refused.

    Call :meth:`update_variables` after you change the model's weights.

    ``analyze`` runs all steps in one ``session.run`` (the tail imported once more, into a
    ``tf.while_loop``, Keras' learning-phase switches folded to inference); tails with other
    ``tf.cond`` or stateful ops run step by step instead, as :class:`IBALayer` describes
    (``in_graph_loop``, ``loop_fallback``).

    Example:
        >>> model = model_wo_softmax(keras.applications.VGG16(weights=None))
        >>> iba = IBACopy(model.get_layer("block4_conv1").output, model.output)
        >>> iba.fit_generator(({model.input: x} for x in batches), n_samples=1000)
        >>> target = iba.set_classification_loss()
        >>> capacity = iba.analyze({model.input: image[None]}, {target: 282})
    """

    #: keyword arguments of the :class:`~.bottleneck.Bottleneck` (a subclass may add some)
    _bottleneck_options = {}

    def __init__(self, feature, outputs, estimator=None, feature_mean=None, feature_std=None,
                 feature_active=None, graph=None, session=None, copy_session_config=None,
                 batch_size=DEFAULTS["batch_size"], steps=DEFAULTS["steps"],
                 beta=DEFAULTS["beta"], learning_rate=DEFAULTS["learning_rate"],
                 min_std=DEFAULTS["min_std"], smooth_std=DEFAULTS["smooth_std"],
                 normalize_beta=DEFAULTS["normalize_beta"], **keras_kwargs):
        unknown = sorted(set(keras_kwargs) - {"name"})
        if unknown:
            raise TypeError("IBACopy got unexpected keyword argument(s) {}: it is not a Keras "
                            "layer; of the layer options only name is used.".format(unknown))
        self._init_methods(estimator, feature_mean, feature_std, feature_active, dict(
            batch_size=batch_size, steps=steps, beta=beta, learning_rate=learning_rate,
            min_std=min_std, smooth_std=smooth_std, normalize_beta=normalize_beta))
        self.name = keras_kwargs.get("name") or "iba_copy"
        if graph is None:
            graph = feature.graph if isinstance(feature, tf.Tensor) else tf.get_default_graph()
        single_output = not isinstance(outputs, (list, tuple))
        output_list = [outputs] if single_output else list(outputs)
        if not output_list:
            raise ValueError("outputs is empty: give at least one output tensor or name.")
        self._original_graph = graph
        self._original_feature = get_tensor(graph, feature, "feature")
        self._original_outputs = [get_tensor(graph, out, "output") for out in output_list]
        self._single_output = single_output
        shape = self._original_feature.shape
        if shape.ndims is None or shape.ndims < 2 or not shape[1:].is_fully_defined():
            raise ValueError("The feature {} must have a known shape apart from the batch axis; "
                             "it has shape {}.".format(self._original_feature.name, shape))
        self._tail = Tail(self._original_feature, self._original_outputs)
        if session is None:
            with graph.as_default():
                session = resolve_session()
        self._original_session = session
        self._build_copy(copy_session_config)
        self.update_variables()

    # ------------------------------------------------------------------ building the copy
    def _build_copy(self, config):
        self._copy_graph = tf.Graph()
        # a graph-level seed of the model's graph seeds the copy's noise as well
        self._copy_graph.seed = self._original_graph.seed
        with self._copy_graph.as_default():
            feature = self._original_feature
            self._copy_feature = tf.placeholder(feature.dtype, feature.shape, name="feature")
            self._bottleneck = Bottleneck(feature.shape[1:].as_list(), name=self.name,
                                          **self._bottleneck_options)
            restricted = self._bottleneck.restrict(self._copy_feature)
            copied = import_tail(self._tail, restricted, self._bottleneck.noise_samples)
        self._copy_outputs, self._copy_fed, self._transfers = copied
        self._copy_session = tf.Session(graph=self._copy_graph, config=config)
        self._copy_session.run(self._bottleneck.initialize_flag)

    # ------------------------------------------------------------------ variables
    def update_variables(self):
        """Copies the current variable values of the original model into the copy.

        Call it after you trained or edited the model.
        """
        local = {variable.op.name for variable in
                 self._original_graph.get_collection(tf.GraphKeys.LOCAL_VARIABLES)}
        copy_variables(self._transfers, self._original_session, self._copy_session, local)

    def _transfer_groups(self):
        return transfer_groups(self._transfers)

    def assert_variables_equal(self):
        """Raises AssertionError naming the variables whose values differ from the original's."""
        differ = []
        for group in self._transfer_groups():
            originals = self._original_session.run([p.original_value for p in group])
            copies = self._copy_session.run([p.copy_value for p in group])
            for piece, original, copy in zip(group, originals, copies):
                if not np.array_equal(original, copy) and piece.transfer.name not in differ:
                    differ.append(piece.transfer.name)
        if differ:
            raise AssertionError("{} variable(s) of the copy differ from the original model: {}. "
                                 "Call update_variables().".format(len(differ), ", ".join(differ)))

    # ------------------------------------------------------------------ the copy
    def get_copied_outputs(self):
        """Returns the copied outputs (tensors of the copied graph), in the constructor's order."""
        return self._copy_outputs[0] if self._single_output else list(self._copy_outputs)

    @property
    def copied_graph(self):
        """The tf.Graph holding the copy."""
        return self._copy_graph

    @property
    def copied_session(self):
        """The tf.Session of the copy."""
        return self._copy_session

    @contextlib.contextmanager
    def copied_session_and_graph_as_default(self):
        """Context manager that makes the copied graph and its session the defaults.

        Example:
            >>> with iba.copied_session_and_graph_as_default():
            ...     y = tf.placeholder(tf.float32, [None])
            ...     iba.set_model_loss(tf.square(iba.get_copied_outputs()[:, 0] - y))
        """
        with self._copy_graph.as_default(), self._copy_session.as_default():
            yield

    def set_classification_loss(self, logits=None, optimizer_cls=tf.train.AdamOptimizer):
        """Uses the softmax cross-entropy of the first copied output as the model loss.

        Returns:
            tf.Tensor: the target placeholder of the copied graph; feed it in
            ``copy_feed_dict`` of :meth:`analyze`.
        """
        logits = self._copy_outputs[0] if logits is None else logits
        with self._copy_graph.as_default():
            return self._classification_objective(logits, optimizer_cls)

    def set_model_loss(self, model_loss, optimizer_cls=tf.train.AdamOptimizer):
        """Sets a model loss built from :meth:`get_copied_outputs`.

        See :meth:`IBALayer.set_model_loss <iba_tf.IBALayer.set_model_loss>`.
        """
        if isinstance(model_loss, tf.Tensor) and model_loss.graph is not self._copy_graph:
            raise ValueError("The model loss {} is not in the copied graph: build it from "
                             "get_copied_outputs() inside copied_session_and_graph_as_default()."
                             .format(model_loss.name))
        with self._copy_graph.as_default():
            self._model_objective(model_loss, optimizer_cls)

    def feature_shape(self):
        """Returns the shape of the feature map, without the batch axis."""
        return tuple(self._original_feature.shape[1:].as_list())

    def original_values(self, feature_feed_dict):
        """Runs the original model once up to the feature.

        Returns:
            (np.ndarray, dict): the feature value(s), and the feed of the copy's other inputs
            (skip connections, other inputs) computed from the same feed. Pass both to
            :meth:`predict_values` and :meth:`analyze_values` to run the model's head once for
            both.
        """
        values = self._original_session.run([self._original_feature] + self._tail.fed,
                                            feature_feed_dict)
        return values[0], dict(zip(self._copy_fed, values[1:]))

    def get_feature(self, feed_dict):
        """Returns the feature map for the model inputs in ``feed_dict`` (original graph)."""
        return self._original_session.run(self._original_feature, feed_dict)

    def predict(self, feed_dict):
        """Returns the copy's outputs for the original model's inputs in ``feed_dict``.

        The flow is not restricted: this equals the original model's outputs, which shows that
        the copy is faithful.
        """
        return self.predict_values(*self.original_values(feed_dict))

    def predict_values(self, feature, fed):
        """Returns the copy's outputs for the values from :meth:`original_values`."""
        feed = dict(fed)
        feed[self._copy_feature] = feature
        outputs = self._copy_session.run(self._copy_outputs, feed)
        return outputs[0] if self._single_output else outputs

    # ------------------------------------------------------------------ statistics
    def _feature_tensor(self):
        return self._original_feature

    def _feature_session(self, session):
        return session if session is not None else self._original_session

    def _bottleneck_session(self, session):
        return session if session is not None else self._copy_session

    # ------------------------------------------------------------------ analysis
    def analyze(self, feature_feed_dict, copy_feed_dict=None, batch_size=None, steps=None,
                beta=None, learning_rate=None, min_std=None, smooth_std=None,
                normalize_beta=None, session=None, pass_mask=None, progbar=False):
        """Optimises the bottleneck for the inputs and returns the capacity (nats per neuron).

        Args:
            feature_feed_dict (dict): inputs of the ORIGINAL graph that compute the feature
                (e.g. ``{model.input: x}``); also used for skip connections.
            copy_feed_dict (dict): inputs of the COPIED graph, e.g. ``{target: 3}`` with the
                placeholder from :meth:`set_classification_loss`.
            batch_size, steps, beta, learning_rate, min_std, smooth_std, normalize_beta:
                override the defaults for this call.
            session (tf.Session): session of the copy; None uses :attr:`copied_session`.
            pass_mask (np.ndarray): feature-shaped; 1 marks neurons that always pass.
            progbar (bool): show a progress bar over the steps.

        Returns:
            np.ndarray: the capacity with the feature's shape, ``(n, *feature_shape)`` for
            ``n > 1`` samples.
        """
        settings = dict(batch_size=batch_size, steps=steps, beta=beta,
                        learning_rate=learning_rate, min_std=min_std, smooth_std=smooth_std,
                        normalize_beta=normalize_beta)
        feature, fed = self.original_values(self._checked_feed(feature_feed_dict))
        return self.analyze_values(feature, fed, copy_feed_dict, session=session,
                                   pass_mask=pass_mask, progbar=progbar, **settings)

    def analyze_values(self, feature, fed, copy_feed_dict=None, session=None, pass_mask=None,
                       progbar=False, **hyperparameters):
        """:meth:`analyze` for the values from :meth:`original_values`.

        ``hyperparameters`` override the defaults for this call, as in :meth:`analyze`.
        """
        settings = self._analysis_settings(**hyperparameters)
        fed = dict(fed)
        fed.update(self._checked_feed(copy_feed_dict or {}))
        feature = np.asarray(feature)
        if feature.shape[1:] != self._bottleneck.feature_shape or len(feature) == 0:
            raise ValueError("feature has shape {}; expected (n >= 1, {}) from "
                             "original_values().".format(feature.shape, ", ".join(
                                 str(d) for d in self._bottleneck.feature_shape)))
        return self._optimize(self._bottleneck_session(session), feature, fed, settings,
                              pass_mask, progbar)

    def state_dict(self):
        """Returns the state (statistics, defaults and the feature/output names)."""
        state = super().state_dict()
        state.update(feature=self._original_feature.name,
                     outputs=[t.name for t in self._original_outputs])
        return state

    def load_state_dict(self, state):
        """Restores a state from :meth:`state_dict` (the names are informative only)."""
        state = dict(state)
        state.pop("feature", None)
        state.pop("outputs", None)
        super().load_state_dict(state)
