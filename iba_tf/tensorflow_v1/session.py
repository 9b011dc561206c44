"""Which TensorFlow session a call runs in."""
from .compat import tf


def resolve_session(session=None):
    """Returns ``session``, else the default TensorFlow session, else Keras' session."""
    if session is not None:
        return session
    default = tf.get_default_session()
    if default is not None:
        return default
    from .compat import K
    return K.get_session()
