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


def test_standard_normal_is_standard_normal_fresh_at_every_run_and_seeded():
    import scipy.stats
    size = tf.placeholder(tf.int32, ())
    shape = tf.stack([size, 3])                 # an odd number of values too
    draw = ops.standard_normal(shape, (7, 11))
    with tf.Session() as session:
        first, second = (session.run(draw, {size: 33333}) for _ in range(2))
        assert session.run(draw, {size: 5}).shape == (5, 3)
    with tf.Session() as session:               # the same op seeds: the same sequence
        np.testing.assert_array_equal(session.run(draw, {size: 33333}), first)
    assert first.shape == (33333, 3) and first.dtype == np.float32
    assert not np.array_equal(first, second)
    values = first.ravel()
    # a wrong transform (e.g. no square root, a lost factor 2 or a cosine only) fails these
    assert scipy.stats.kstest(values, "norm").pvalue > 1e-3
    assert abs(values.mean()) < 0.02 and abs(values.std() - 1) < 0.02
    assert abs(scipy.stats.kurtosis(values)) < 0.1
    halves = values[:len(values) // 2], values[len(values) // 2:]
    assert abs(np.corrcoef(halves[0][:10000], halves[1][:10000])[0, 1]) < 0.05
