"""iba_tf's Keras layer for models built with ``tf.keras``.

On TensorFlow 1.15, ``tf.keras`` is a Keras of its own beside the multi-backend Keras 2.3.1, and
a ``tf.keras`` model accepts only ``tf.keras`` layers: use this module's :class:`IBALayer` there.
On TensorFlow 2 it is the same class as :class:`iba_tf.keras.IBALayer`. Both share one engine
and the same methods; each is registered with its Keras' custom objects for ``load_model``.

Example:
    >>> import tensorflow as tf
    >>> from iba_tf.tfkeras import IBALayer
    >>> model = tf.keras.Sequential([tf.keras.layers.Conv2D(8, 3, input_shape=(32, 32, 3)),
    ...                              IBALayer(name="iba"), tf.keras.layers.Flatten(),
    ...                              tf.keras.layers.Dense(10)])
"""
from .tensorflow_v1.layer import TFKerasIBALayer as IBALayer

__all__ = ["IBALayer"]
