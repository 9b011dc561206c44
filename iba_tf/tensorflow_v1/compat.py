"""The one module through which iba_tf's TensorFlow code imports TensorFlow and Keras.

``tf`` is the TensorFlow 1 API (``tensorflow.compat.v1``): the graph-and-session API that
TensorFlow 1.15 exposes at the top level and TensorFlow 2 keeps under ``compat.v1``. ``keras``
and ``K`` are the Keras this package builds its layers with. Every other module imports them
from here, so that a second Keras (``tf.keras``) or a second TensorFlow can be added in one place.
"""
import tensorflow as _tensorflow
import keras  # noqa: F401  (re-exported)
from keras import backend as K  # noqa: F401,N812  (re-exported)

tf = _tensorflow.compat.v1

__all__ = ["tf", "keras", "K"]
