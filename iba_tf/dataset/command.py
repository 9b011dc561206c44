"""The ``iba-tf explain-dataset`` subcommand (wired into :mod:`iba_tf.cli`).

    iba-tf explain-dataset MODEL.h5 SOURCE --out RESULTS.h5 [--targets label|predicted|N]
        [--layer NAME] [--workers N | --scheduler ADDRESS] [...]

Bad input is raised as :class:`iba_tf.cli.CliError` (one line on stderr, exit code 2); Ctrl-C
closes the file and the cluster and exits with code 130 (rerun the command to continue).
"""
import sys

from ..images import PREPROCESSING

__all__ = ["add_explain_dataset_parser", "command_explain_dataset", "EXIT_INTERRUPTED"]

EXIT_INTERRUPTED = 130


def add_explain_dataset_parser(subparsers):
    """Adds the ``explain-dataset`` subcommand to ``subparsers`` (of ``add_subparsers()``).

    Returns:
        argparse.ArgumentParser: the subcommand's parser (its ``run`` default is
        :func:`command_explain_dataset`).
    """
    from ..cli import add_hyperparameter_arguments
    parser = subparsers.add_parser(
        "explain-dataset", help="explain every image of a folder or array file into one HDF5 "
        "file (resumable; runs on Dask)",
        description="Explain every image of a folder (one sub-folder per class) or of an "
        ".npy/.npz file and write the saliency maps and per-item metadata into one HDF5 file. "
        "Rerun the same command to continue an interrupted run. See docs/dataset.md.")
    parser.add_argument("model", help="a Keras .h5 model")
    parser.add_argument("source", help="a folder of class folders (or of images), or an "
                        ".npy/.npz file of images in 0..255")
    parser.add_argument("--out", required=True, metavar="FILE.h5",
                        help="the HDF5 file to write or to continue")
    parser.add_argument("--targets", default="predicted", metavar="RULE",
                        help="the class to explain: 'predicted' (default), 'label' (the class "
                        "folder or the .npz labels) or a class index")
    parser.add_argument("--layer", help="layer to put the bottleneck after (default: the "
                        "first at 1/8 of the input resolution; see 'iba-tf layers')")
    parser.add_argument("--preprocess", choices=sorted(PREPROCESSING), default="unit",
                        help="pixel scaling (default: unit)")
    parser.add_argument("--resize", metavar="SIZE", help="resize images to SIZE (256 or "
                        "256x320) and crop the centre to the model's size (default: resize "
                        "to the model's size)")
    parser.add_argument("--array-key", help="the images' array in an .npz file")
    parser.add_argument("--label-key", help="the labels' array in an .npz file")
    parser.add_argument("--fit-samples", type=int, default=500, metavar="N",
                        help="items to estimate the feature statistics on (default: 500)")
    parser.add_argument("--seed", type=int, default=0, help="seed of those items")
    parser.add_argument("--custom-objects", action="append", metavar="MODULE:ATTR",
                        help="a custom layer/function the model needs (repeatable)")
    run = parser.add_argument_group("running")
    run.add_argument("--workers", type=int, metavar="N", help="local Dask worker processes "
                     "(default: one per core); 0: in this process, without Dask")
    run.add_argument("--scheduler", metavar="ADDRESS", help="use the Dask cluster of this "
                     "scheduler (e.g. tcp://10.0.0.1:8786) instead of a local one")
    run.add_argument("--tf-threads", type=int, metavar="N", help="TensorFlow threads per "
                     "worker (default: the host's cores / its workers)")
    run.add_argument("--chunk-size", type=int, default=8, metavar="N",
                     help="items per task, explained together (default: 8)")
    run.add_argument("--retry-failed", action="store_true",
                     help="explain the items that failed in an earlier run again")
    run.add_argument("--overwrite", action="store_true",
                     help="start a new file even if --out exists")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_hyperparameter_arguments(parser)
    parser.set_defaults(run=command_explain_dataset)
    return parser


def command_explain_dataset(args):
    """Runs ``iba-tf explain-dataset`` with parsed ``args``; returns the :class:`RunSummary`.

    Raises:
        iba_tf.cli.CliError: bad input (incl. Dask missing: names the extra to install).
        SystemExit: code 130 after Ctrl-C (the file and the cluster are closed first).
    """
    from ..cli import CliError
    from .errors import DatasetError
    from .runner import explain_dataset
    try:
        return explain_dataset(
            args.model, args.source, args.out, layer=args.layer, targets=args.targets,
            preprocess=args.preprocess, resize=args.resize, array_key=args.array_key,
            label_key=args.label_key, beta=args.beta, steps=args.steps,
            batch_size=args.batch_size, learning_rate=args.lr, min_std=args.min_std,
            smooth_std=args.smooth_std, fit_samples=args.fit_samples, seed=args.seed,
            chunk_size=args.chunk_size, workers=args.workers, scheduler=args.scheduler,
            tf_threads=args.tf_threads, retry_failed=args.retry_failed,
            overwrite=args.overwrite, custom_objects=args.custom_objects or (),
            progress=not args.no_progress)
    except DatasetError as error:
        raise CliError(str(error).strip().splitlines()[0])
    except KeyboardInterrupt:
        print("iba-tf: interrupted; rerun the same command to continue", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED)
