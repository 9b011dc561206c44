"""iba_tf's Keras layer for models built with ``import keras``.

On TensorFlow 1.15 that is the multi-backend Keras 2.3.1; on TensorFlow 2 the Keras it bundles
(the same as ``tf.keras``, see :mod:`iba_tf.tfkeras`). ``from iba_tf import IBALayer`` gives the
same class.

Example:
    >>> import keras
    >>> from iba_tf.keras import IBALayer
    >>> model = keras.Sequential([keras.layers.Conv2D(8, 3, input_shape=(32, 32, 3)),
    ...                           IBALayer(name="iba"), keras.layers.Flatten(),
    ...                           keras.layers.Dense(10)])
"""
from .tensorflow_v1.layer import IBALayer

__all__ = ["IBALayer"]
