"""The HDF5 file of a data-set run: its layout, and writing it so that a run can resume.

Layout (``N`` items, maps of ``H x W`` pixels; see :data:`LAYOUT` and docs/dataset.md)::

    /                      attributes: the run's settings (FORMAT, model, layer, source, ...)
    /saliency              float32 (N, H, W)  bits per pixel; NaN until the item is done
    /items/key             str     (N,)       relative image path, or the array row
    /items/label           int64   (N,)       class from the folder / .npz; -1: none
    /items/target          int64   (N,)       the class explained; -1: not yet
    /items/predicted       int64   (N,)       the model's top class; -1: not yet
    /items/bits            float64 (N,)       total bits of the map (sum); NaN: not yet
    /items/seconds         float64 (N,)       seconds spent on the item; NaN: not yet
    /items/status          int8    (N,)       0 pending, 1 done, 2 failed
    /items/error           bytes   (N,)       why an item failed (UTF-8, <= 256 bytes)
    /classes               str     (C,)       class folder names (empty without folders)
    /statistics            the feature statistics every map was computed with
                           (--input-resolution: /statistics/feature and /statistics/input)

Safety: the file is created complete under a temporary name and renamed into place. Every
dataset has a fixed size with its storage allocated and filled when the file is created
(contiguous, no compression), so writing an item only overwrites bytes at fixed places and
never changes the file's structure: a writer killed at any moment leaves a readable file,
and a full disk shows up when the file is created, not in the middle of a run. An item's
values are written and flushed to the disk (``fsync``) before its status; the status alone
says what is done. Only one process writes (HDF5 locks the file while it is open).
"""
import json
import os
import shutil

import h5py
import numpy as np

from .errors import DatasetError

__all__ = ["FORMAT", "FORMAT_VERSION", "LAYOUT", "PENDING", "DONE", "FAILED", "Store",
           "read_results"]

FORMAT = "iba-tf dataset attribution"
FORMAT_VERSION = 1
PENDING, DONE, FAILED = 0, 1, 2
ERROR_BYTES = 256

#: dataset path -> (dtype, fill value, what it holds); every one has N rows except /classes.
LAYOUT = {
    "saliency": ("float32", np.nan, "(N, H, W) bits per pixel; NaN until the item is done"),
    "items/key": ("str", None, "(N,) the image path relative to the folder, or the array row"),
    "items/label": ("int64", -1, "(N,) class index from the folder or the .npz; -1: none"),
    "items/target": ("int64", -1, "(N,) the class explained; -1: not explained"),
    "items/predicted": ("int64", -1, "(N,) the model's top class; -1: not computed"),
    "items/bits": ("float64", np.nan, "(N,) total bits of the map (its sum); NaN: not done"),
    "items/seconds": ("float64", np.nan, "(N,) seconds spent on the item; NaN: not done"),
    "items/status": ("int8", PENDING, "(N,) 0 pending, 1 done, 2 failed"),
    "items/error": ("S{}".format(ERROR_BYTES), b"",
                    "(N,) why an item failed, UTF-8, at most 256 bytes; empty otherwise"),
    "classes": ("str", None, "(C,) class folder names; label i is classes[i]"),
}
STATISTICS = "statistics"
#: the subgroups of /statistics for InputIBA (``--input-resolution``): one per stage
STAGES = ("feature", "input")
_ROW_FIELDS = ("target", "predicted", "bits", "seconds")


def _str_dtype():
    return h5py.special_dtype(vlen=str)


def _preallocated(group, name, shape, dtype, fill):
    """A fixed-size contiguous dataset whose storage is allocated and filled now."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_ALLOC)
    return group.create_dataset(name, shape=shape, dtype=dtype, fillvalue=fill, dcpl=dcpl,
                                track_times=False)


def _needed_bytes(n_items, map_shape):
    return n_items * (int(np.prod(map_shape)) * 4 + 8 * 4 + 1 + ERROR_BYTES + 64) + (1 << 20)


def _encode_error(message):
    data = str(message).encode("utf-8")[:ERROR_BYTES]
    return data.decode("utf-8", "ignore").encode("utf-8")   # no cut multi-byte character


def _write_state(group, state):
    """Writes an IBA ``state_dict()``, or InputIBA's (one per stage) into subgroups."""
    if set(state) == set(STAGES):
        for stage in STAGES:
            _write_state(group.create_group(stage), state[stage])
        return
    estimator = state["estimator"]
    group.attrs["estimator_n"] = int(estimator["n"])
    if estimator["n"]:
        for key in ("mean", "m2", "nonzero"):
            group.create_dataset("estimator_" + key, data=np.asarray(estimator[key]))
    for key in ("feature_mean", "feature_std", "feature_active"):
        if state.get(key) is not None:
            group.create_dataset(key, data=np.asarray(state[key]))
    group.attrs["defaults"] = json.dumps(state["defaults"], sort_keys=True)


def _read_state(group):
    """The state :func:`_write_state` wrote (InputIBA's: ``{"feature": ..., "input": ...}``)."""
    if all(isinstance(group.get(stage), h5py.Group) for stage in STAGES):
        return {stage: _read_state(group[stage]) for stage in STAGES}
    n = int(group.attrs["estimator_n"])
    estimator = {"n": n, "mean": None, "m2": None, "nonzero": None}
    if n:
        estimator.update({key: group["estimator_" + key][()] for key in
                          ("mean", "m2", "nonzero")})
    state = {"estimator": estimator, "defaults": json.loads(group.attrs["defaults"])}
    for key in ("feature_mean", "feature_std", "feature_active"):
        state[key] = group[key][()] if key in group else None
    return state


def _attr(value):
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        return np.asarray(value, dtype=np.int64)
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True)
    return value


def _non_finite(saliency, bits):
    """Why a map cannot count as done ("" if it is finite)."""
    saliency = np.asarray(saliency, dtype=np.float64)
    if np.isfinite(saliency).all() and np.isfinite(bits):
        return ""
    return ("the map holds non-finite values ({} NaN and {} inf): the optimisation diverged; "
            "use a smaller --beta or --learning-rate, then rerun with --retry-failed".format(
                int(np.isnan(saliency).sum()), int(np.isinf(saliency).sum())))


def _runs(indices):
    """Splits sorted indices into runs of consecutive values: ``(start, stop, positions)``."""
    start = 0
    for end in range(1, len(indices) + 1):
        if end == len(indices) or indices[end] != indices[end - 1] + 1:
            yield int(indices[start]), int(indices[end - 1]) + 1, slice(start, end)
            start = end


class Store:
    """An open result file: the single writer of a run (use :meth:`create`, :meth:`open`).

    Attributes:
        path (str): the file.
        attrs (dict): the run's settings, as written at creation.
        status (np.ndarray): int8, one per item (:data:`PENDING`, :data:`DONE`,
            :data:`FAILED`), kept in step with the file.
    """

    def __init__(self, path, h5file):
        self.path = path
        self._file = h5file
        self.attrs = {key: (value.decode() if isinstance(value, bytes) else value)
                      for key, value in h5file.attrs.items()}
        self.status = h5file["items/status"][()]

    # ------------------------------------------------------------------ creating / opening
    @staticmethod
    def create(path, attrs, keys, labels, map_shape, state, classes=()):
        """Writes a new, complete file with every item pending (replacing ``path``).

        The file is written under a temporary name in the same folder and renamed into place,
        so ``path`` is never a half-written file.

        Args:
            path (str): the file to create.
            attrs (dict): the run's settings (str, numbers, or JSON-able values).
            keys (list of str), labels (array): one per item.
            map_shape (tuple): ``(H, W)`` of a saliency map.
            state (dict): the feature statistics (an IBA ``state_dict()``).
            classes (list of str): class folder names.

        Raises:
            DatasetError: not enough disk space, or the file cannot be written.
        """
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise DatasetError("the folder of the output file does not exist: {}".format(folder))
        n = len(keys)
        needed = _needed_bytes(n, map_shape)
        free = shutil.disk_usage(folder).free
        if needed > free:
            raise DatasetError("{} needs about {:.2f} GB for {} maps of {}x{} pixels, but only "
                               "{:.2f} GB are free there".format(path, needed / 1e9, n,
                                                                 map_shape[0], map_shape[1],
                                                                 free / 1e9))
        temporary = "{}.tmp-{}".format(path, os.getpid())
        try:
            with h5py.File(temporary, "w") as f:
                for key, value in attrs.items():
                    f.attrs[key] = _attr(value)
                f.attrs["format"] = FORMAT
                f.attrs["format_version"] = FORMAT_VERSION
                f.attrs["n_items"] = n
                f.attrs["map_shape"] = np.asarray(map_shape, dtype=np.int64)
                items = f.create_group("items")
                items.create_dataset("key", data=np.array(list(keys), dtype=object),
                                     dtype=_str_dtype())
                f.create_dataset("classes", data=np.array(list(classes), dtype=object),
                                 dtype=_str_dtype(), shape=(len(classes),))
                for name, (dtype, fill, _) in LAYOUT.items():
                    if dtype == "str":
                        continue
                    shape = (n,) + tuple(map_shape) if name == "saliency" else (n,)
                    _preallocated(f, name, shape, dtype, fill)
                f["items/label"][...] = np.asarray(labels, dtype=np.int64)
                _write_state(f.create_group(STATISTICS), state)
                f.flush()
                os.fsync(f.id.get_vfd_handle())
            os.replace(temporary, path)
        except (OSError, RuntimeError, ValueError) as error:
            if os.path.exists(temporary):
                os.remove(temporary)
            raise DatasetError("cannot create {}: {}".format(path, error))

    @staticmethod
    def open(path):
        """Opens an existing result file for writing (one writer at a time).

        Raises:
            DatasetError: the file is not a result file, or another process has it open.
        """
        try:
            h5file = h5py.File(path, "r+")
        except OSError as error:
            hint = "is another run writing it? (HDF5 locks an open file; on file systems " \
                   "without locks set HDF5_USE_FILE_LOCKING=FALSE)" if "lock" in str(
                       error).lower() else "it is not a readable HDF5 file"
            raise DatasetError("cannot open {}: {}".format(path, hint))
        if h5file.attrs.get("format") not in (FORMAT, FORMAT.encode()):
            h5file.close()
            raise DatasetError("{} is not a result file of iba-tf explain-dataset; write to "
                               "another file or pass --overwrite".format(path))
        if int(h5file.attrs["format_version"]) > FORMAT_VERSION:
            h5file.close()
            raise DatasetError("{} has layout version {}; this iba-tf reads up to {}".format(
                path, h5file.attrs["format_version"], FORMAT_VERSION))
        return Store(path, h5file)

    # ------------------------------------------------------------------ reading
    def keys(self):
        """The item keys, as written at creation."""
        return [_text(key) for key in self._file["items/key"][()]]

    def state(self):
        """The feature statistics the maps are computed with (an IBA ``state_dict()``;
        with ``--input-resolution`` InputIBA's: ``{"feature": ..., "input": ...}``)."""
        return _read_state(self._file[STATISTICS])

    def pending(self, retry_failed=False):
        """The indices still to explain (with ``retry_failed``: the failed ones too)."""
        todo = self.status == PENDING
        if retry_failed:
            todo |= self.status == FAILED
        return np.flatnonzero(todo)

    def counts(self):
        """``{"done": ..., "failed": ..., "pending": ...}``."""
        return {name: int(np.sum(self.status == code)) for name, code in
                (("done", DONE), ("failed", FAILED), ("pending", PENDING))}

    # ------------------------------------------------------------------ writing
    def write(self, result):
        """Writes the results of some items and marks them done (or failed).

        The values go first and are flushed to the disk, then the statuses; an interruption
        in between leaves the items pending, so a rerun explains them again. An item whose
        map or bits hold NaN or inf is marked failed with that reason, never done.

        Args:
            result (dict): ``index`` (n,), ``saliency`` (n, H, W), ``target``, ``predicted``,
                ``bits``, ``seconds`` (n,) and ``error`` (n strings, "" for success).

        Returns:
            int: the number of those items marked failed.
        """
        order = np.argsort(result["index"], kind="stable")
        index = np.asarray(result["index"], dtype=np.int64)[order]
        if len(index) == 0:
            return 0
        maps = np.asarray(result["saliency"])[order]
        fields = {field: np.asarray(result[field])[order] for field in _ROW_FIELDS}
        errors = [result["error"][i] or _non_finite(maps[k], fields["bits"][k])
                  for k, i in enumerate(order)]
        ok = np.array([not message for message in errors], dtype=bool)
        encoded = np.array([_encode_error(message) for message in errors],
                           dtype="S{}".format(ERROR_BYTES))
        saliency = self._file["saliency"]
        for start, stop, rows in _runs(index):
            if ok[rows].all():
                saliency[start:stop] = maps[rows]
            else:                 # a failed item keeps its NaN map
                for position, keep, row_map in zip(range(start, stop), ok[rows], maps[rows]):
                    if keep:
                        saliency[position] = row_map
            for field, values in fields.items():
                self._file["items/" + field][start:stop] = values[rows]
            self._file["items/error"][start:stop] = encoded[rows]
        self.sync()
        status = np.where(ok, DONE, FAILED).astype(np.int8)
        for start, stop, rows in _runs(index):
            self._file["items/status"][start:stop] = status[rows]
        self._file.flush()
        self.status[index] = status
        return int(np.sum(~ok))

    def sync(self):
        """Flushes the file to the disk (``fsync``)."""
        self._file.flush()
        os.fsync(self._file.id.get_vfd_handle())

    def close(self):
        """Flushes and closes the file (safe to call twice)."""
        if self._file.id.valid:
            self.sync()
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _text(value):
    """A string read from a dataset of strings: h5py 2 gives str, h5py 3 (TF 2 stack) bytes."""
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def read_results(path, saliency=True):
    """Reads a result file of :func:`iba_tf.dataset.explain_dataset` into memory.

    Args:
        path (str): the HDF5 file.
        saliency (bool): also read the maps (``N x H x W`` float32: mind the memory for big
            data sets; open the file with h5py to read parts of them).

    Returns:
        dict: ``attrs`` (the run's settings), ``classes`` (list), ``statistics`` (dict),
        ``key`` (list of str), ``error`` (list of str), ``label``, ``target``, ``predicted``,
        ``bits``, ``seconds``, ``status`` (arrays) and, with ``saliency``, ``saliency``.

    Example:
        >>> results = read_results("val_iba.h5")
        >>> done = results["status"] == 1
        >>> maps, targets = results["saliency"][done], results["target"][done]
    """
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") not in (FORMAT, FORMAT.encode()):
            raise DatasetError("{} is not a result file of iba-tf explain-dataset".format(path))
        results = {"attrs": {key: (value.decode() if isinstance(value, bytes) else value)
                             for key, value in f.attrs.items()},
                   "classes": [_text(name) for name in f["classes"][()]],
                   "statistics": _read_state(f[STATISTICS]),
                   "key": [_text(key) for key in f["items/key"][()]],
                   "error": [message.decode("utf-8", "replace") for message in
                             f["items/error"][()]]}
        for field in ("label", "status") + _ROW_FIELDS:
            results[field] = f["items/" + field][()]
        if saliency:
            results["saliency"] = f["saliency"][()]
    return results
