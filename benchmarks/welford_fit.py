"""Times WelfordEstimator.fit on 200 feature maps of shape 28x28x512 against a per-sample loop.

The per-sample loop is the textbook Welford update, vectorised over the neurons, one sample at
a time (how the reference implementation fits). Prints the seconds of each and the ratio.

    .venv/bin/python benchmarks/welford_fit.py
"""
import argparse
import platform
import time

import numpy as np

from iba_tf import WelfordEstimator


def per_sample_loop(features):
    n, mean = 0, np.zeros(features.shape[1:])
    m2 = np.zeros(features.shape[1:])
    nonzero = np.zeros(features.shape[1:], np.int64)
    for sample in features:
        n += 1
        delta = sample - mean
        mean += delta / n
        m2 += delta * (sample - mean)
        nonzero += sample != 0
    return mean, np.sqrt(m2 / (n - 1)), nonzero


def best_of(repeats, function, *args):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function(*args)
        times.append(time.perf_counter() - start)
    return min(times), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.RandomState(0)
    # ReLU features: non-negative with many zeros, float32 as a session returns them
    features = np.maximum(rng.randn(args.samples, 28, 28, 512), 0).astype(np.float32)

    loop_s, (loop_mean, loop_std, _) = best_of(args.repeats, per_sample_loop, features)
    one_s, one = best_of(args.repeats, _fit_all, [features])
    batches = np.split(features, 10)
    ten_s, ten = best_of(args.repeats, _fit_all, batches)
    read_s, _ = best_of(args.repeats, np.sum, features, 0)
    np.testing.assert_allclose(one.std(), loop_std, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ten.mean(), loop_mean, rtol=1e-4, atol=1e-5)

    print("machine: {} cores, {}".format(_cores(), platform.processor() or platform.machine()))
    print("| method | seconds for {} maps of 28x28x512 |".format(args.samples))
    print("|---|---|")
    print("| per-sample loop | {:.3f} |".format(loop_s))
    print("| WelfordEstimator.fit, 1 batch of {} | {:.3f} |".format(args.samples, one_s))
    print("| WelfordEstimator.fit, 10 batches of {} | {:.3f} |".format(
        args.samples // 10, ten_s))
    print("| floor: one pass over the data (np.sum over samples) | {:.3f} |".format(read_s))
    print("welford fit(one batch) speed-up over per-sample loop = {:.1f}x".format(
        loop_s / one_s))
    print("welford fit(10 batches) speed-up over per-sample loop = {:.1f}x".format(
        loop_s / ten_s))
    print("per-sample loop / one pass over the data = {:.1f}x (the most any method can gain)"
          .format(loop_s / read_s))


def _fit_all(batches):
    estimator = WelfordEstimator()
    for batch in batches:
        estimator.fit(batch)
    return estimator


def _cores():
    import os
    return os.cpu_count()


if __name__ == "__main__":
    main()
