"""The graph building blocks against their reference definitions."""
import numpy as np
import scipy.ndimage
import tensorflow.compat.v1 as tf  # the TensorFlow 1 API on both stacks

from iba_tf.smoothing import smoothing_matrix
from iba_tf.tensorflow_v1 import ops


def test_smoothing_matrix_is_scipys_reflect_blur():
    signal = np.random.rand(9)
    matrix = smoothing_matrix(9, 1.5)
    np.testing.assert_allclose(matrix @ signal, scipy.ndimage.gaussian_filter1d(
        signal, 1.5, mode="reflect", truncate=4.0), rtol=1e-5)
    np.testing.assert_allclose(matrix.sum(1), 1, rtol=1e-6)       # constants stay constant
    np.testing.assert_array_equal(smoothing_matrix(5, 0), np.eye(5))
    assert np.all(np.isfinite(smoothing_matrix(3, 10.)))     # kernel wider than the map


def test_smooth_blurs_each_spatial_axis_per_channel():
    x = np.random.rand(2, 6, 7, 3).astype("float32")
    matrices = [smoothing_matrix(6, 1.), smoothing_matrix(7, 1.)]
    with tf.Session() as session:
        result = session.run(ops.smooth(tf.constant(x), [tf.constant(m) for m in matrices]))
    expected = scipy.ndimage.gaussian_filter(x, sigma=(0, 1, 1, 0), mode="reflect")
    np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-6)


def test_repeat_rows():
    x = np.arange(6).reshape(3, 2)
    with tf.Session() as session:
        result = session.run(ops.repeat_rows(tf.constant(x), 2))
    np.testing.assert_array_equal(result, np.repeat(x, 2, axis=0))


def test_adam_update_matches_tensorflows_adam():
    start = np.array([[1., -2., 3.]], dtype="float32")
    ours = tf.Variable(start, use_resource=True, shape=tf.TensorShape([None, 3]))
    theirs = tf.Variable(start)
    loss = lambda v: tf.reduce_sum(tf.square(v - 0.5) * [1., 10., 100.])  # noqa: E731
    value = ours.read_value()
    gradient = tf.gradients(loss(value), value)[0]
    step, reset = ops.adam_update(ours, gradient, learning_rate=0.3)
    reference = tf.train.AdamOptimizer(0.3).minimize(loss(theirs))
    with tf.Session() as session:
        session.run([tf.global_variables_initializer(), tf.local_variables_initializer()])
        session.run(reset(ours.read_value()))
        for _ in range(5):
            session.run(step)
            session.run(reference)
        np.testing.assert_allclose(*session.run([ours.read_value(), theirs]), rtol=1e-4)


def test_capacity_is_finite_where_lambda_rounds_to_one():
    alpha = tf.constant([0., 5., 40., 200.])
    with tf.Session() as session:
        capacity = session.run(ops.capacity(tf.sigmoid(alpha), tf.sigmoid(-alpha),
                                            tf.constant([0.5, 0.5, 0.5, 0.5])))
    assert np.all(np.isfinite(capacity)) and np.all(np.diff(capacity) >= 0)
