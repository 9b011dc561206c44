"""TFWelfordEstimator: fits a feature's mean/std by running a TensorFlow session."""

from .compat import tf, require_graph_mode
from ..utils import get_tqdm
from ..welford import WelfordEstimator
from .session import SessionHome

__all__ = ["TFWelfordEstimator"]


class TFWelfordEstimator(WelfordEstimator):
    """Estimates the per-neuron mean and std of a feature tensor of a TensorFlow graph.

    Ensure the model runs in inference mode (Keras: the default learning phase).

    Args:
        feature_name (str): name of the feature tensor, e.g. ``"block4_conv1/Relu:0"``
            (a ``tf.Tensor`` is accepted too). May be None for an estimator that is only
            loaded from a state.
        graph (tf.Graph): the graph holding the tensor; None uses the default graph.

    Example:
        >>> estimator = TFWelfordEstimator(model.get_layer("conv2").output.name)
        >>> estimator.fit_generator({model.input: x} for x in batches)
        >>> iba = IBALayer(estimator=estimator)
    """

    def __init__(self, feature_name, graph=None):
        super().__init__()
        if isinstance(feature_name, tf.Tensor):
            graph = graph or feature_name.graph
            feature_name = feature_name.name
        self.feature_name = feature_name
        self.graph = graph
        self._home = None

    def _session(self, session):
        """``session``, or the session of the feature's graph (remembered across threads)."""
        if session is not None:
            return session
        if self._home is None:
            self._home = SessionHome(self._feature().graph)
        return self._home.resolve()

    def _feature(self):
        require_graph_mode("TFWelfordEstimator")
        if self.feature_name is None:
            raise RuntimeError("This TFWelfordEstimator has no feature_name to fit.")
        graph = self.graph or (self._home.graph if self._home is not None
                               else tf.get_default_graph())
        try:
            return graph.get_tensor_by_name(self.feature_name)
        except (KeyError, ValueError) as error:
            raise ValueError("The feature tensor {!r} is not in the graph: {}".format(
                self.feature_name, error)) from None

    def fit(self, feed_dict, session=None, run_kwargs=None):
        """Adds the feature values computed from ``feed_dict`` to the estimate.

        Args:
            feed_dict (dict): TensorFlow feed_dict with the model inputs.
            session (tf.Session): session to run; None uses the default/Keras session.
            run_kwargs (dict): extra keyword arguments of ``session.run``.
        """
        session = self._session(session)
        values = session.run(self._feature(), feed_dict=feed_dict, **(run_kwargs or {}))
        return self.update(values)

    def fit_generator(self, generator, session=None, progbar=True, run_kwargs=None):
        """Fits every ``feed_dict`` the generator yields, with a progress bar."""
        session = self._session(session)
        for feed_dict in get_tqdm()(generator, disable=not progbar, desc="Estimating",
                                    unit="batch"):
            self.fit(feed_dict, session=session, run_kwargs=run_kwargs)
        return self

    def state_dict(self):
        """Returns the estimator state (counts, mean, sums of squares, activity), picklable."""
        state = super().state_dict()
        state["feature_name"] = self.feature_name
        return state

    def load_state_dict(self, state):
        """Restores a state from :meth:`state_dict` (of this class or of WelfordEstimator)."""
        state = dict(state)
        feature_name = state.pop("feature_name", None)
        super().load_state_dict(state)
        if self.feature_name is None:
            self.feature_name = feature_name
        return self
