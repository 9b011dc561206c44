"""The one module through which iba_tf's TensorFlow code imports TensorFlow and Keras.

``tf`` is the TensorFlow 1 API (``tensorflow.compat.v1``): the graph-and-session API that
TensorFlow 1.15 exposes at the top level and TensorFlow 2 keeps under ``compat.v1``. ``keras``
and ``K`` are the Keras this package builds its layers with: the multi-backend Keras 2.3.1 on
TensorFlow 1.15, and on TensorFlow 2 the Keras it bundles (there ``import keras`` and
``tf.keras`` are the same package). Every other module imports them from here, so that what
differs between the two stacks is decided in one place.

On TensorFlow 2, iba_tf works on graphs and sessions, as innvestigate 2 does: the user disables
eager execution (``tf.compat.v1.disable_eager_execution()``) before building the model. iba_tf
never flips that global state itself; :func:`require_graph_mode` raises a clear error instead.
"""
import tensorflow as _tensorflow
import keras  # noqa: F401  (re-exported)
from keras import backend as K  # noqa: F401,N812  (re-exported)

tf = _tensorflow.compat.v1

#: True on the TensorFlow 2 stack (TensorFlow 2.x with its bundled Keras, graph mode).
TF2 = int(_tensorflow.__version__.split(".")[0]) >= 2

__all__ = ["tf", "keras", "K", "TF2", "InputLayer", "EagerExecutionError", "require_graph_mode",
           "get_session"]

#: The Keras class of a model's input layers (``keras.engine.InputLayer`` is Keras 2.3.1 only).
InputLayer = keras.layers.InputLayer


class EagerExecutionError(RuntimeError):
    """Raised where iba_tf needs a graph but TensorFlow 2 executes eagerly."""


def require_graph_mode(what="iba_tf"):
    """Raises :class:`EagerExecutionError` where TensorFlow executes eagerly.

    iba_tf builds graph ops and runs them in sessions, which TensorFlow 2 offers only with eager
    execution disabled. A model built while eager execution was on holds no graph tensors, so
    the switch has to happen before the model is built.

    Args:
        what (str): what needs the graph, named in the message.
    """
    if TF2 and tf.executing_eagerly_outside_functions():
        raise EagerExecutionError(
            "{} needs TensorFlow graph mode, but TensorFlow {} executes eagerly. Call "
            "tf.compat.v1.disable_eager_execution() at the start of your program, before "
            "building or loading the model (innvestigate 2 requires the same); iba_tf does not "
            "change this global setting itself.".format(what, _tensorflow.__version__))


def get_session():
    """Returns the session Keras runs its models in (checking for graph mode first)."""
    require_graph_mode()
    if TF2:
        # Keras 2.14 keeps its session only in the TensorFlow 1 API of its backend.
        return tf.keras.backend.get_session()
    return K.get_session()
