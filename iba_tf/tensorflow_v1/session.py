"""Which TensorFlow session a call runs in."""
import threading

from .compat import tf, get_session, require_graph_mode

__all__ = ["resolve_session", "SessionHome"]


def resolve_session(session=None):
    """Returns ``session``, else the default TensorFlow session, else Keras' session.

    Raises:
        EagerExecutionError: on TensorFlow 2 with eager execution on (see
            :func:`~iba_tf.tensorflow_v1.compat.require_graph_mode`).
    """
    require_graph_mode()
    if session is not None:
        return session
    default = tf.get_default_session()
    if default is not None:
        return default
    return get_session()


class SessionHome:
    """The graph an object was built in and the session that first ran it there.

    Keras keeps one session per thread, and TensorFlow one default graph per thread: a call
    from another thread would get a new, empty session. The home remembers the first session
    resolved for its graph (on the thread that resolved it: the latest), so calls from other
    threads run where the model's variables live.

    Args:
        graph (tf.Graph): the graph; None takes the default graph now.
    """

    def __init__(self, graph=None):
        self.graph = graph if graph is not None else tf.get_default_graph()
        self.session = None
        self._thread = None

    def resolve(self, session=None):
        """Returns ``session``, the default session of this graph, or the remembered one."""
        if session is not None:
            return session
        default = tf.get_default_session()
        if default is not None and default.graph is self.graph:
            return default
        with self.graph.as_default():
            if self.session is not None and self._thread != threading.get_ident() \
                    and not getattr(self.session, "_closed", False):
                # Keras initialises variables it has not initialised yet in the default session
                with self.session.as_default():
                    return get_session()
            session = get_session()
        if session.graph is self.graph:
            self.session, self._thread = session, threading.get_ident()
        return session
