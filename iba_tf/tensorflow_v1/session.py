"""Which TensorFlow session a call runs in."""
from .compat import tf, get_session, require_graph_mode


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
