"""The ``iba-tf`` command: explain a saved Keras model's predictions on image files.

    iba-tf layers MODEL.h5
    iba-tf explain MODEL.h5 IMAGE [IMAGE ...] [--layer NAME] [--target N] [--out DIR]
    iba-tf explain-dataset MODEL.h5 SOURCE --out RESULTS.h5 ...   (see docs/dataset.md)
    iba-tf train-readout MODEL.h5 DATA --out readout.npz ...     (see docs/readout.md)

One module per subcommand (:mod:`~iba_tf.cli.layers`, :mod:`~iba_tf.cli.explain`,
:mod:`~iba_tf.cli.explain_dataset`, :mod:`~iba_tf.cli.train_readout`), each with
``add_parser(subparsers)`` and ``run(args)``; the options they share are in
:mod:`~iba_tf.cli.common`. Bad input (missing files, a file that is not a Keras model, an
unknown layer, images that do not fit the model, a target out of range, a readout file for
another model: :class:`iba_tf.errors.InputError`) and an analysis that gave no explanation
(:class:`iba_tf.checks.ResultError`: NaN, or a closed bottleneck) are reported in one line
on stderr with exit code 2. Also runs as ``python -m iba_tf.cli``.
"""
import argparse
import sys

from ..checks import ResultError
from ..errors import InputError
from . import explain, explain_dataset, layers, train_readout

__all__ = ["main", "build_parser", "EXIT_BAD_INPUT", "EXIT_INTERRUPTED"]

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = explain_dataset.EXIT_INTERRUPTED


def build_parser():
    """The ``iba-tf`` argument parser with its subcommands (each sets ``run``)."""
    parser = argparse.ArgumentParser(
        prog="iba-tf", description="Explain a saved Keras model with the Per-Sample "
        "Information Bottleneck (IBA).")
    subparsers = parser.add_subparsers(dest="command")
    subparsers.required = True
    for command in (layers, explain, explain_dataset, train_readout):
        command.add_parser(subparsers)
    return parser


def main(argv=None):
    """Entry point of the ``iba-tf`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (InputError, ResultError) as error:
        lines = str(error).strip().splitlines()
        print("iba-tf: error: {}".format(lines[0] if lines else type(error).__name__),
              file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0
