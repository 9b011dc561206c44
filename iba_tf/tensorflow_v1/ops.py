"""TensorFlow building blocks of the bottleneck: smoothing, noise injection, capacity, Adam.

Every function here builds graph ops once; the values that change between ``analyze`` calls
(statistics, hyperparameters) are variables or placeholders, never new constants.
"""
import numpy as np
from .compat import tf


def smooth(x, matrices):
    """Blurs ``x`` of shape ``(n, *spatial, c)`` along each spatial axis with its matrix.

    The non-batch dimensions of ``x`` must be known. Each axis is one batched matrix product
    over a reshaped view, so no transposes are needed.
    """
    shape = x.shape[1:].as_list()
    for axis, matrix in enumerate(matrices):
        after = int(np.prod(shape[axis + 1:]))
        rows = tf.reshape(x, [-1, shape[axis], after])
        x = tf.matmul(tf.expand_dims(matrix, 0), rows)       # broadcasts over the batch
    return tf.reshape(x, [-1] + shape)


def standard_normal(shape, seeds):
    """Standard-normal float32 noise of ``shape`` (a 1-D int tensor), by Box-Muller.

    Exact standard normals (tails cut at about 5.7 standard deviations, as in TensorFlow's
    op), from one uniform draw with the op seeds ``seeds``: ``sqrt(-2 log(1 - u1)) * (cos,
    sin)(2 pi u2)``. TensorFlow's ``RandomStandardNormal`` transforms one value at a time on
    the CPU; these vectorised ops take half its time, which matters where the noise costs as
    much as the model's tail (a small CNN draws ~60 k values per step for ~1 ms of tail
    work).
    """
    size = tf.reduce_prod(shape)
    half = (size + 1) // 2
    uniform = tf.raw_ops.RandomUniform(shape=tf.stack([2, half]), dtype=tf.float32,
                                       seed=seeds[0], seed2=seeds[1])
    radius = tf.sqrt(-2. * tf.log1p(-uniform[0]))   # 1 - u in (0, 1]: a finite log
    angle = (2. * np.pi) * uniform[1]
    values = tf.concat([radius * tf.cos(angle), radius * tf.sin(angle)], 0)
    return tf.reshape(values[:size], shape)


def repeat_rows(x, times):
    """Repeats each row of ``x`` ``times`` times: rows a, b become a, a, .., b, b, ..."""
    tiled = tf.tile(tf.expand_dims(x, 1), tf.concat([[1, times], tf.ones_like(
        tf.shape(x)[1:])], axis=0))
    return tf.reshape(tiled, tf.concat([[-1], tf.shape(x)[1:]], axis=0))


def capacity(lam, one_minus_lam, normalized_feature):
    """KL divergence (nats) of ``N(lam * r, (1 - lam)^2)`` from ``N(0, 1)``, per neuron.

    ``one_minus_lam`` is passed separately (computed as the blurred ``sigmoid(-alpha)``) so
    that ``log(1 - lam)`` stays accurate where ``lam`` rounds to 1; it is clamped to the
    smallest normal float so that the capacity stays finite.
    """
    tiny = np.finfo(np.float32).tiny
    log_one_minus_lam = tf.log(tf.maximum(one_minus_lam, tiny))
    return -0.5 * (1. + 2. * log_one_minus_lam - tf.square(lam * normalized_feature)
                   - tf.square(one_minus_lam))


def prior_capacity(lam, one_minus_lam, normalized_feature, prior):
    """KL divergence (nats) of ``N(lam * r, (1 - lam)^2)`` from ``N(p lam r, (1 - p lam)^2)``.

    The information the bottleneck lets through beyond what a prior mask ``p`` in [0, 1]
    would pass at the same ``lam`` (InputIBA's information term; see ``docs/input_iba.md``):
    ``p = 0`` gives :func:`capacity`, ``p = 1`` gives 0 (passing is free there).
    """
    tiny = np.finfo(np.float32).tiny
    spread = tf.maximum(one_minus_lam, tiny)
    # 1 - p * lam, accurate where lam rounds to 1
    prior_spread = tf.maximum((1. - prior) + prior * one_minus_lam, tiny)
    shift = lam * (1. - prior) * normalized_feature / prior_spread
    return -0.5 * (1. + 2. * (tf.log(spread) - tf.log(prior_spread)) - tf.square(shift)
                   - tf.square(one_minus_lam / prior_spread))


def adam_update(variable, gradient, learning_rate, beta1=0.9, beta2=0.999, epsilon=1e-8):
    """One Adam step on ``variable`` (same update as ``tf.train.AdamOptimizer``).

    The moment and step-count variables are created here; :func:`adam_reset` returns the op
    that zeroes them for a variable of a new shape. Works for variables whose first dimension
    changes between runs.
    """
    def slot(name, initial, shape):
        return tf.Variable(initial, name=name, trainable=False, use_resource=True, shape=shape,
                           collections=[tf.GraphKeys.LOCAL_VARIABLES])
    first_moment = slot("adam_m", tf.zeros_like(variable.initial_value), variable.shape)
    second_moment = slot("adam_v", tf.zeros_like(variable.initial_value), variable.shape)
    step = slot("adam_t", tf.constant(0.), ())

    t = step.assign_add(1.)
    update = variable.assign_sub(adam_delta(
        first_moment, second_moment, t, gradient, learning_rate, beta1, beta2, epsilon))

    def reset_op(like):
        return tf.group(first_moment.assign(tf.zeros_like(like)),
                        second_moment.assign(tf.zeros_like(like)),
                        step.assign(0.))
    return update, reset_op


def adam_delta(first_moment, second_moment, t, gradient, learning_rate, beta1=0.9, beta2=0.999,
               epsilon=1e-8):
    """Assigns the new moments (variables) and returns Adam's step ``delta`` for step ``t``."""
    new_m, new_v = adam_moments(first_moment.read_value(), second_moment.read_value(),
                                gradient, beta1, beta2)
    return adam_step(first_moment.assign(new_m), second_moment.assign(new_v), t,
                     learning_rate, beta1, beta2, epsilon)


def adam_moments(m, v, gradient, beta1=0.9, beta2=0.999):
    """The new first and second moments (tensors) after ``gradient``: Adam's update rule."""
    return beta1 * m + (1 - beta1) * gradient, beta2 * v + (1 - beta2) * tf.square(gradient)


def adam_step(m, v, t, learning_rate, beta1=0.9, beta2=0.999, epsilon=1e-8):
    """Adam's step (subtracted from the variable) for the moments after step ``t`` (1-based)."""
    step_size = learning_rate * tf.sqrt(1 - tf.pow(beta2, t)) / (1 - tf.pow(beta1, t))
    return step_size * m / (tf.sqrt(v) + epsilon)
