"""The floor of an IBA explanation and how to time ``analyze`` against it (shared by scripts).

The floor is ``steps x`` the time of one forward+backward of ``batch_size`` samples through
the tail (the layers after the bottleneck), flow not restricted, no IBA ops. The machine's
speed drifts by several percent over a minute, so the floor and ``analyze`` are timed
alternately, each floor measurement as long as one analysis (``steps`` runs back to back),
and the ratio is the median of the ratios of adjacent pairs.
"""
import time

import numpy as np


def graph_mode_tensorflow():
    """``tensorflow.compat.v1`` with graph mode on, on either stack.

    On TensorFlow 2 this turns eager execution off, as a user of iba_tf does at the start of a
    program; on TensorFlow 1.15 it changes nothing.
    """
    import tensorflow
    from iba_tf.tensorflow_v1.compat import use_graph_mode
    use_graph_mode()
    return tensorflow.compat.v1


def floor_gradient(logits, feature_input):
    """Ops for one forward+backward of the tail: d(cross-entropy)/d(feature).

    Returns the target placeholder (one class per row) and the gradient tensor.
    """
    tf = graph_mode_tensorflow()
    target = tf.placeholder(tf.int32, [None])
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=target, logits=logits))
    return target, tf.gradients(loss, feature_input)[0]


def seconds(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def analyze_vs_floor(analyze, floor_step, steps, pairs):
    """Times ``analyze()`` and ``steps`` calls of ``floor_step()`` alternately.

    Returns:
        dict: ``analyze`` and ``floor`` (median seconds) and ``ratio`` (median of the
        per-pair ratios analyze/floor).
    """
    analyze()                           # warm-up: first runs allocate and tune
    floor_step()
    analyze_s, floor_s = [], []
    for _ in range(pairs):
        floor_s.append(seconds(lambda: [floor_step() for _ in range(steps)]))
        analyze_s.append(seconds(analyze))
    return dict(analyze=float(np.median(analyze_s)), floor=float(np.median(floor_s)),
                ratio=float(np.median(np.divide(analyze_s, floor_s))))
