"""explain_dataset: explain every item of a folder or array file into one HDF5 file.

The calling process lists the items, writes the file (the only writer) and shows the
progress; the workers load the model once each and explain chunks of items. A rerun with the
same settings skips what the file already holds.
"""
import collections
import contextlib
import dataclasses
import datetime
import hashlib
import json
import os
import time
import uuid

import numpy as np

import typing

from ..hyperparameters import INPUT_DEFAULTS, PRIOR_SCALE, docstring_section, resolve
from ..utils import get_tqdm
from .engines import DaskEngine, InProcessEngine, import_distributed
from .errors import DatasetError
from .lock import OutputLock
from .options import DatasetOptions
from .sources import open_source
from .store import Store
from .worker import Job

__all__ = ["explain_dataset", "RunSummary"]

RunSummary = collections.namedtuple("RunSummary", [
    "path", "n_items", "done", "failed", "pending", "explained", "failed_now", "workers",
    "startup_seconds", "explain_seconds", "items_per_second", "load_seconds"])
RunSummary.__doc__ = """What a run did: the file ``path``; over the whole file, ``n_items``,
``done``, ``failed`` and ``pending`` items; in this run, ``explained`` items (``failed_now`` of
them failed) by ``workers`` workers in ``explain_seconds`` (``items_per_second``) after
``startup_seconds`` (cluster start, model loading, statistics); ``load_seconds``: each
worker's model load and analyzer build."""

# Settings that must match to continue a file: attribute -> what the option is called.
_RESUME_SETTINGS = collections.OrderedDict([
    ("model_sha256", "the model file (its SHA-256)"), ("source_kind", "the kind of data set"),
    ("array_key", "--array-key"), ("preprocess", "--preprocess"), ("resize", "--resize"),
    ("targets", "--targets"), ("hyperparameters", "the IBA hyperparameters"),
    ("readout_sha256", "--readout (the readout file's SHA-256)")])

# Settings of InputIBA's input stage, checked (after the method) to continue an input_iba file;
# files from before their options hold none: they were made with the defaults.
_INPUT_STAGE_SETTINGS = collections.OrderedDict([
    ("input_hyperparameters", "input-stage hyperparameters (--input-beta, --input-steps, ...)"),
    ("prior_scale", "--prior-scale"), ("prior", "--input-prior"),
    ("gan_settings", "GAN settings (--gan-iterations, --gan-lr, ...)")])

# The ``method`` attribute of a file -> what made its maps.
_METHODS = {"iba": "the Per-Sample Bottleneck (without --input-resolution)",
           "input_iba": "InputIBA (--input-resolution)",
           "readout": "a readout (--readout)"}


def _method(options):
    return "readout" if options.readout else "input_iba" if options.input_resolution else "iba"


def _input_stage_attrs(input_settings, prior_scale, prior="feature", gan_settings=None):
    """The attributes of InputIBA's input-stage settings (all "" without InputIBA:
    ``input_settings`` None; ``gan_settings`` "" without the GAN prior)."""
    if input_settings is None:
        return dict.fromkeys(_INPUT_STAGE_SETTINGS, "")
    return {"input_hyperparameters": json.dumps(input_settings, sort_keys=True),
            "prior_scale": repr(float(prior_scale)), "prior": prior,
            "gan_settings": json.dumps(gan_settings, sort_keys=True) if gan_settings else ""}


def _stored_method(attrs):
    """The method of a file (files from before --input-resolution have no attribute)."""
    return attrs.get("method") or ("readout" if attrs.get("readout") else "iba")


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_fits(info, source, targets, resize):
    """Checks the data set and targets against the model; raises DatasetError."""
    height, width, channels = info["input_shape"]
    if source.item_shape is not None and source.item_shape != info["input_shape"]:
        raise DatasetError("the arrays of {} have shape {}, the model expects {}".format(
            source.path, source.item_shape, info["input_shape"]))
    if resize is not None:
        if source.kind != "folder":
            raise DatasetError("--resize is for image folders; arrays are used as they are")
        if resize[0] < height or resize[1] < width:
            raise DatasetError("resize {}x{} is smaller than the model's input {}x{}; it must "
                               "be at least as large (the centre is cropped)".format(
                                   resize[0], resize[1], height, width))
    n_classes = info["n_classes"]
    if targets == "label":
        labels = source.labels
        if labels.min() < 0 or labels.max() >= n_classes:
            where = "{} class folders".format(len(source.classes)) if source.classes else \
                "labels from {} to {}".format(labels.min(), labels.max())
            raise DatasetError("--targets label: the data set has {}, the model has {} outputs "
                               "(0 to {})".format(where, n_classes, n_classes - 1))
    elif targets != "predicted" and int(targets) >= n_classes:
        raise DatasetError("--targets {} is out of range: the model has {} outputs (0 to {})"
                           .format(targets, n_classes, n_classes - 1))


def _check_resume(store, attrs, keys, layer):
    """Checks that ``store`` was made by the same settings and items; raises DatasetError."""
    advice = "rerun with the same settings to continue, pass --overwrite to start again, or " \
             "write to another file"
    for name, what in _RESUME_SETTINGS.items():
        stored, wanted = store.attrs.get(name, ""), attrs[name]
        if str(stored) != str(wanted):
            raise DatasetError("{} was made with another {} ({} there, {} now); {}".format(
                store.path, what, stored or "none", wanted or "none", advice))
    stored = _stored_method(store.attrs)
    if stored != attrs["method"]:
        raise DatasetError("{} holds maps of {}, not of {}: a file is explained one way; {}"
                           .format(store.path, _METHODS.get(stored, stored),
                                   _METHODS[attrs["method"]], advice))
    legacy = _input_stage_attrs(resolve(INPUT_DEFAULTS), PRIOR_SCALE) \
        if stored == "input_iba" else _input_stage_attrs(None, None)
    for name, what in _INPUT_STAGE_SETTINGS.items():
        there, wanted = store.attrs.get(name, legacy[name]), attrs[name]
        if str(there) != str(wanted):
            raise DatasetError("{} was made with other {} ({} there, {} now); {}".format(
                store.path, what, there or "none", wanted or "none", advice))
    if layer is not None and layer != store.attrs.get("layer"):
        raise DatasetError("{} was made with --layer {}, not {}; {}".format(
            store.path, store.attrs.get("layer"), layer, advice))
    stored_keys = store.keys()
    if stored_keys != list(keys):
        if len(stored_keys) != len(keys):
            change = "{} items now, {} in the file".format(len(keys), len(stored_keys))
        else:
            first = next(i for i, (a, b) in enumerate(zip(stored_keys, keys)) if a != b)
            change = "item {} is {} now, {} in the file".format(first, keys[first],
                                                                stored_keys[first])
        raise DatasetError("the data set changed since {} was made ({}); {}".format(
            store.path, change, advice))


def _lost_result(chunk, map_shape, message):
    n = len(chunk)
    return {"index": np.array([item.index for item in chunk], dtype=np.int64),
            "saliency": np.zeros((n,) + tuple(map_shape), dtype=np.float32),
            "target": np.full(n, -1), "predicted": np.full(n, -1),
            "bits": np.full(n, np.nan), "seconds": np.full(n, np.nan), "error": [message] * n}


def _engine(workers, scheduler, tf_threads, log):
    if workers == 0:
        return InProcessEngine(tf_threads)
    return DaskEngine(workers=workers, scheduler=scheduler, tf_threads=tf_threads, log=log)


@dataclasses.dataclass
class _Run:
    """One call of :func:`explain_dataset`: its checked inputs and when it started."""
    options: DatasetOptions
    data: typing.Any                # the Source
    out: str
    attrs: dict                     # the settings written into (or checked against) the file
    layer: typing.Optional[str]     # the layer asked for, or the file's
    started: float

    def job(self):
        """The :class:`Job` the workers get."""
        options = self.options
        return Job(model=self.attrs["model"], model_sha256=self.attrs["model_sha256"],
                   layer=self.layer, targets=options.targets, preprocess=options.preprocess,
                   resize=options.resize,
                   hyperparameters=tuple(sorted(options.hyperparameters.items())),
                   custom_objects=options.custom_objects, tf_threads=options.tf_threads,
                   readout=options.readout, readout_sha256=self.attrs["readout_sha256"],
                   input_resolution=options.input_resolution,
                   input_settings=tuple(sorted(options.input_settings.items())),
                   prior_scale=options.prior_scale, prior=options.prior,
                   gan_settings=tuple(sorted(options.gan_settings.items())))


def explain_dataset(model, source, out, options=None, **keywords):
    """Explains every item of a folder or an .npy/.npz file into one HDF5 file.

    Resumable: rerun the same call after an interruption and it explains only the items
    that are not in ``out`` yet. See docs/dataset.md for the file layout.

    Args:
        model (str): a Keras ``.h5`` model (same path on every worker); a softmax output is
            explained through its logits.
        source (str): a folder with one sub-folder per class (as
            :func:`iba_tf.get_imagenet_generator` reads it; a folder without sub-folders gives
            unlabelled images), or an ``.npy``/``.npz`` file of images in 0..255.
        out (str): the HDF5 file to write (or to continue).
        options (~iba_tf.dataset.options.DatasetOptions): how to explain it (default: its defaults).
        **keywords: options to change, by name: any attribute of
            :class:`~iba_tf.dataset.options.DatasetOptions` (``layer``, ``targets``,
            ``preprocess``, ``resize``, ``workers``, ...) or an IBA hyperparameter:
{hyperparameters}

    Returns:
        RunSummary: what the file holds and what this run did.

    Raises:
        InputError: bad input (names the bad value), or another run is writing ``out``
            (one run per file: a lock file ``out + ".lock"`` is held for the whole run).
        MissingDaskError: Dask is needed.
        KeyboardInterrupt: after closing the file and the cluster; rerun to continue.

    Example:
        >>> explain_dataset("vgg16.h5", "val", "val_iba.h5", targets="label", steps=10)
    """
    started = time.time()
    if options is not None and not isinstance(options, DatasetOptions):
        raise TypeError("options must be a DatasetOptions, got {!r}; give the other options "
                        "by keyword".format(type(options).__name__))
    options = DatasetOptions.from_keywords(options, **keywords).checked()
    if options.workers != 0:
        import_distributed()
    if not isinstance(model, str) or not os.path.isfile(model):
        raise DatasetError("model file not found: {}".format(model))
    data = open_source(source, options.array_key, options.label_key)
    if options.targets == "label" and not data.has_labels:
        raise DatasetError("--targets label needs labels: a folder with one sub-folder per "
                           "class, or an .npz file with a label array; {} has none".format(
                               data.path))
    with OutputLock(out):           # held until the end: no second run writes ``out``
        run = _Run(options, data, out, _attrs(os.path.abspath(model), data, options),
                   options.layer, started)
        store = _resumed_store(run)
        try:
            return _run(run, store)
        finally:
            if store is not None:
                store.close()


if explain_dataset.__doc__:      # None under python -OO
    explain_dataset.__doc__ = explain_dataset.__doc__.format(
        hyperparameters=docstring_section(indent=8))


def _resumed_store(run):
    """The open file to continue (its settings checked), or None to create one."""
    if not os.path.exists(run.out) or run.options.overwrite:
        return None
    store = Store.open(run.out)
    try:
        _check_resume(store, run.attrs, run.data.keys, run.options.layer)
    except DatasetError:
        store.close()
        raise
    run.layer = store.attrs["layer"]
    return store


def _attrs(model, data, options):
    return {"model": model, "model_sha256": _sha256(model), "source": data.path,
            "source_kind": data.kind, "array_key": data.array_key or "",
            "label_key": data.label_key or "", "preprocess": options.preprocess,
            "resize": "{}x{}".format(*options.resize) if options.resize else "",
            "targets": options.targets,
            "hyperparameters": json.dumps(options.hyperparameters, sort_keys=True),
            "custom_objects": json.dumps(list(options.custom_objects)),
            "readout": options.readout or "",
            "readout_sha256": _sha256(options.readout) if options.readout else "",
            "method": _method(options),
            **_input_stage_attrs(options.input_settings if options.input_resolution else None,
                                 options.prior_scale, options.prior, options.gan_settings)}


def _nothing_to_do(run, store):
    counts = store.counts()
    run.options.log("{}: all {} items are there ({} failed{}); nothing to do".format(
        run.out, len(run.data), counts["failed"],
        ", rerun with --retry-failed to try them again" if counts["failed"] else ""))
    return RunSummary(run.out, len(run.data), counts["done"], counts["failed"], 0, 0, 0, 0,
                      time.time() - run.started, 0., 0., [])


def _run(run, store):
    options, data, log = run.options, run.data, run.options.log
    job = run.job()
    if store is not None and len(store.pending(options.retry_failed)) == 0:
        return _nothing_to_do(run, store)
    log("Explaining {} -> {}".format(data.describe(), run.out))
    with _engine(options.workers, options.scheduler, options.tf_threads, log) as engine:
        log("Workers: {}".format(engine.description))
        if hasattr(engine, "host_workers"):
            job = dataclasses.replace(job, host_workers=engine.host_workers())
        info = engine.describe(job)
        _check_fits(info, data, options.targets, options.resize)
        if store is None:
            _create(run, engine, job, info)
            store = Store.open(run.out)
        with store:
            return _explain_all(engine, job, store, run, info)


def _create(run, engine, job, info):
    """Estimates the statistics and creates the file."""
    data, seed = run.data, run.options.seed
    fit_indices = np.sort(np.random.RandomState(seed).choice(
        len(data), min(len(data), run.options.fit_samples), replace=False))
    if run.options.readout:     # the readout file holds its statistics
        fit_indices = fit_indices[:0]
    else:
        run.options.log("Estimating the {} statistics of layer {} on {} items".format(
            "feature and input" if run.options.input_resolution else "feature",
            info["layer"], len(fit_indices)))
    prepared = engine.prepare(job, data.items(fit_indices))
    created = dict(run.attrs, layer=info["layer"], softmax_removed=info["softmax_removed"],
                   input_shape=list(info["input_shape"]), n_classes=info["n_classes"],
                   fit_samples=prepared["fit_used"], fit_seed=seed,
                   created=datetime.datetime.now().isoformat(timespec="seconds"),
                   iba_tf_version=_version())
    Store.create(run.out, created, data.keys, data.labels, info["map_shape"],
                 prepared["state"], data.classes)


def _version():
    from .. import __version__
    return __version__


def _write_all(finished, store, map_shape, bar):
    """Writes each finished chunk; returns the numbers of items written and failed."""
    explained = failed = 0
    for chunk, result in finished:
        if isinstance(result, str):
            result = _lost_result(chunk, map_shape, result)
        try:
            failed += store.write(result)
        except (OSError, RuntimeError) as error:
            raise DatasetError("writing {} failed ({}); the items written before are kept: "
                               "rerun to continue".format(store.path, error))
        explained += len(chunk)
        bar.update(len(chunk))
        if failed:
            bar.set_postfix(failed=failed, refresh=False)
    return explained, failed


def _explain_all(engine, job, store, run, info):
    """Explains the pending items of ``store``, writes them and returns the summary."""
    data, retry_failed, log = run.data, run.options.retry_failed, run.options.log
    chunk_size = run.options.chunk_size
    state, token = store.state(), uuid.uuid4().hex
    pending = store.pending(retry_failed)
    chunks = [data.items(pending[i:i + chunk_size]) for i in range(0, len(pending), chunk_size)]
    load_seconds = engine.wait_ready()
    counts = store.counts()
    skipped = len(data) - len(pending)
    if skipped:
        log("{} items are in the file already ({} failed); {} to go".format(
            skipped, counts["failed"] if not retry_failed else 0, len(pending)))
    loop_start = time.time()
    bar = get_tqdm()(total=len(data), initial=skipped, unit="item", desc="Explaining",
                     disable=not run.options.progress, smoothing=0.1)
    try:
        with contextlib.closing(engine.map(job, state, token, chunks)) as finished:
            explained, failed = _write_all(finished, store, info["map_shape"], bar)
    except KeyboardInterrupt:
        bar.close()
        counts = store.counts()
        log("Interrupted: {} of {} items are in {}; rerun the same command to continue "
            "(at most the items in flight were lost)".format(
                counts["done"] + counts["failed"], len(data), store.path))
        raise
    finally:
        bar.close()
    seconds = time.time() - loop_start
    counts = store.counts()
    summary = RunSummary(store.path, len(data), counts["done"], counts["failed"],
                         counts["pending"], explained, failed, engine.n_workers,
                         loop_start - run.started, seconds,
                         explained / seconds if seconds else 0., load_seconds)
    _log_summary(log, summary, counts)
    return summary


def _log_summary(log, summary, counts):
    log("Done: {} items explained in {:.1f} s ({:.2f} items/s with {} worker{}, after {:.1f} s "
        "of start-up); {} failed in this run. {} holds {} of {} items{}.".format(
            summary.explained, summary.explain_seconds, summary.items_per_second,
            summary.workers, "s" if summary.workers != 1 else "", summary.startup_seconds,
            summary.failed_now, summary.path, counts["done"], summary.n_items,
            " ({} failed: see items/error)".format(counts["failed"]) if counts["failed"] else ""))
