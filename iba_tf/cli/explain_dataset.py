"""``iba-tf explain-dataset``: a whole data set into one HDF5 file (:mod:`iba_tf.dataset`).

    iba-tf explain-dataset MODEL.h5 SOURCE --out RESULTS.h5 [--targets label|predicted|N]
        [--layer NAME] [--workers N | --scheduler ADDRESS] [...]

Bad input is raised as :class:`iba_tf.errors.InputError` (one line on stderr, exit code 2),
and so is a run after which the file holds no map at all (every item failed: the reason of
the first is given); Ctrl-C closes the file and the cluster and exits with code 130 (rerun
the command to continue).
"""
import sys

from ..dataset.options import DatasetOptions
from ..errors import InputError
from ..images import PREPROCESSING
from .common import (INPUT_RESOLUTION_NOTE, add_hyperparameter_arguments,
                     add_input_resolution_argument, add_layer_argument, add_model_arguments,
                     hyperparameters_from_args, input_stage_from_args)

__all__ = ["add_parser", "run", "EXIT_INTERRUPTED"]

EXIT_INTERRUPTED = 130


def add_parser(subparsers):
    """Adds the ``explain-dataset`` subcommand to ``subparsers`` (of ``add_subparsers()``).

    Returns:
        argparse.ArgumentParser: the subcommand's parser (its ``run`` default is
        :func:`run`).
    """
    parser = subparsers.add_parser(
        "explain-dataset", help="explain every image of a folder or array file into one HDF5 "
        "file (resumable; runs on Dask)",
        description="Explain every image of a folder (one sub-folder per class) or of an "
        ".npy/.npz file and write the saliency maps and per-item metadata into one HDF5 file. "
        "Rerun the same command to continue an interrupted run. See docs/dataset.md.")
    defaults = DatasetOptions()
    add_model_arguments(parser)
    parser.add_argument("source", help="a folder of class folders (or of images), or an "
                        ".npy/.npz file of images in 0..255")
    parser.add_argument("--out", required=True, metavar="FILE.h5",
                        help="the HDF5 file to write or to continue")
    parser.add_argument("--targets", default=defaults.targets, metavar="RULE",
                        help="the class to explain: 'predicted' (default), 'label' (the class "
                        "folder or the .npz labels) or a class index")
    add_layer_argument(parser)
    parser.add_argument("--preprocess", choices=sorted(PREPROCESSING),
                        default=defaults.preprocess, help="pixel scaling (default: %(default)s)")
    parser.add_argument("--resize", metavar="SIZE", help="resize images to SIZE (256 or "
                        "256x320) and crop the centre to the model's size (default: resize "
                        "to the model's size)")
    parser.add_argument("--array-key", help="the images' array in an .npz file")
    parser.add_argument("--label-key", help="the labels' array in an .npz file")
    parser.add_argument("--fit-samples", type=int, default=defaults.fit_samples, metavar="N",
                        help="items to estimate the feature statistics on (default: "
                        "%(default)s)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed of those items")
    parser.add_argument("--readout", metavar="FILE.npz", help="explain with this trained "
                        "Readout Bottleneck (from 'iba-tf train-readout'): one pass per chunk, "
                        "for the predicted class; the IBA hyperparameters are not used")
    add_input_resolution_argument(parser)
    running = parser.add_argument_group("running")
    running.add_argument("--workers", type=int, metavar="N", help="local Dask worker processes "
                         "(default: one per core); 0: in this process, without Dask")
    running.add_argument("--scheduler", metavar="ADDRESS", help="use the Dask cluster of this "
                         "scheduler (e.g. tcp://10.0.0.1:8786) instead of a local one")
    running.add_argument("--tf-threads", type=int, metavar="N", help="TensorFlow threads per "
                         "worker (default: the host's cores / its workers)")
    running.add_argument("--chunk-size", type=int, default=defaults.chunk_size, metavar="N",
                         help="items per task, explained together (default: %(default)s)")
    running.add_argument("--retry-failed", action="store_true",
                         help="explain the items that failed in an earlier run again")
    running.add_argument("--overwrite", action="store_true",
                         help="start a new file even if --out exists")
    running.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_hyperparameter_arguments(parser, INPUT_RESOLUTION_NOTE, input_stage=True)
    parser.set_defaults(run=run)
    return parser


def run(args):
    """Runs ``iba-tf explain-dataset`` with parsed ``args``; returns the :class:`RunSummary`.

    Raises:
        iba_tf.errors.InputError: bad input (incl. Dask missing: names the extra to install),
            another run writing ``--out``, or every item failed.
        SystemExit: code 130 after Ctrl-C (the file and the cluster are closed first).
    """
    import dataclasses
    from ..dataset.runner import explain_dataset
    # the options' fields and the parser's destinations have the same names
    fields = {field.name for field in dataclasses.fields(DatasetOptions)}
    options = DatasetOptions(**{name: value for name, value in vars(args).items()
                                if name in fields})
    options = dataclasses.replace(options, hyperparameters=hyperparameters_from_args(args),
                                  progress=not args.no_progress, **input_stage_from_args(args))
    try:
        summary = explain_dataset(args.model, args.source, args.out, options)
    except KeyboardInterrupt:
        print("iba-tf: interrupted; rerun the same command to continue", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED)
    if summary.failed_now and summary.done == 0:
        raise InputError(_all_failed(summary))
    return summary


def _all_failed(summary):
    """The message when not one item of the file was explained (not a success: exit 2)."""
    from ..dataset import read_results
    errors = [message for message in read_results(summary.path, saliency=False)["error"]
              if message]
    return "all {} items failed, {} holds no map; the first reason: {}; fix it and rerun " \
        "with --retry-failed (or --overwrite)".format(summary.failed, summary.path,
                                                       errors[0] if errors else "unknown")
