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
import contextlib

import tensorflow as _tensorflow
import keras  # noqa: F401  (re-exported)
from keras import backend as K  # noqa: F401,N812  (re-exported)

tf = _tensorflow.compat.v1
#: ``tf.keras``: a second Keras on TensorFlow 1.15, the same one as ``keras`` on TensorFlow 2.
tf_keras = _tensorflow.keras

#: True on the TensorFlow 2 stack (TensorFlow 2.x with its bundled Keras, graph mode).
TF2 = int(_tensorflow.__version__.split(".")[0]) >= 2

__all__ = ["tf", "keras", "K", "tf_keras", "keras_of", "TF2", "EagerExecutionError", "require_graph_mode",
           "get_session", "set_session", "use_graph_mode", "cond",
           "control_flow_v1"]


def keras_of(model):
    """Returns the Keras module (``keras`` or ``tf.keras``) that ``model`` was built with.

    Raises:
        TypeError: ``model`` is no Keras model of either.
    """
    for module in (keras, tf_keras):
        if isinstance(model, module.models.Model):
            return module
    raise TypeError("model must be a keras or tf.keras Model, got {!r}.".format(
        type(model).__name__))


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



def set_session(session):
    """Makes ``session`` the one Keras runs its models in."""
    if TF2:
        tf.keras.backend.set_session(session)
    else:
        K.set_session(session)


def use_graph_mode():
    """Disables eager execution on TensorFlow 2, for iba_tf's own programs only.

    The ``iba-tf`` command, its Dask workers and the demo are programs: they start TensorFlow
    themselves, so they choose graph mode as a user of the library would. Library calls never
    call this (see :func:`require_graph_mode`).
    """
    if TF2:
        tf.disable_eager_execution()


@contextlib.contextmanager
def control_flow_v1():
    """Builds control flow as TensorFlow 1 builds it, for the ops made inside the block.

    TensorFlow 2 builds ``tf.compat.v1.cond`` and ``tf.compat.v1.while_loop`` as functional
    ``If`` / ``While`` ops whose branches and bodies are separate function graphs, even with
    eager execution disabled: a tensor made inside a branch cannot be used outside it, a branch
    cannot run an op of the outer graph, and a graph cannot be imported into a body with an
    input map onto outer tensors. The bottleneck needs all three (the gradient with respect to
    the alpha read inside the noisy branch; a branch that runs a variable's initializer; the
    in-graph loop's imported tail). TensorFlow 2 still builds the TensorFlow 1 form
    (Switch/Merge/Enter/Exit ops in the graph itself) while control flow v2 is switched off: it
    is switched off for the block and back on at once (graph building is not thread-safe
    anyway).
    """
    if not TF2 or not tf.control_flow_v2_enabled():
        yield
        return
    tf.disable_control_flow_v2()
    try:
        yield
    finally:
        tf.enable_control_flow_v2()


def cond(pred, true_fn, false_fn, name=None):
    """``tf.cond`` built as TensorFlow 1 builds it (see :func:`control_flow_v1`)."""
    with control_flow_v1():
        return tf.cond(pred, true_fn, false_fn, name=name)

