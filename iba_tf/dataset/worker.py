"""What runs in a worker: load the model once, then explain chunks of items.

A Dask worker process keeps one :class:`Explainer` (the Keras model, its TensorFlow session
and the IBA copy of the graph) for as long as it lives: the task functions
(:func:`warm_up_task`, :func:`prepare_task`, :func:`explain_task`) find it in a per-process
cache keyed on the model file, its hash, the layer and the hyperparameters. TensorFlow is
imported inside the worker, on its first task. The same :class:`Explainer` runs in the
calling process when no Dask is used.
"""
import dataclasses
import os
import threading
import time
import typing

import numpy as np

from ..images import preprocess
from .errors import DatasetError
from .sources import read_item

__all__ = ["Job", "Explainer", "warm_up_task", "prepare_task", "explain_task", "cpu_count"]

# Items read and fed at once while estimating the statistics.
FIT_BLOCK = 64


def cpu_count():
    """The cores this process may run on (the affinity mask where there is one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


@dataclasses.dataclass(frozen=True)
class Job:
    """Everything a worker needs to explain items (small and picklable).

    Attributes:
        model (str): absolute path of the Keras ``.h5`` model (readable on every worker).
        model_sha256 (str): its hash (part of the cache key: a changed file is reloaded).
        layer (str): the layer to put the bottleneck after; None: the default layer.
        targets (str): ``"label"``, ``"predicted"`` or a class index as a string.
        preprocess (str): a mode of :data:`iba_tf.images.PREPROCESSING`.
        resize (tuple): ``(height, width)`` to resize images to before the centre crop.
        hyperparameters (tuple): ``(name, value)`` pairs for :class:`IBACopyInnvestigate`.
        custom_objects (tuple): ``"module:attr"`` specs the model needs.
        tf_threads (int): TensorFlow threads per worker; None: cores / workers on the host.
        host_workers (tuple): ``(host, number of workers)`` pairs, for ``tf_threads=None``.
        readout (str): absolute path of a trained readout file; None: the Per-Sample
            Bottleneck.
        readout_sha256 (str): its hash (part of the cache key).
        input_resolution (bool): explain with InputIBA (input-resolution maps); the
            hyperparameters set its feature stage.
        input_settings (tuple): ``(name, value)`` pairs of InputIBA's input stage.
        prior_scale (float): InputIBA's largest prior weight (None without InputIBA).
        prior (str): InputIBA's prior, ``"feature"`` or ``"gan"`` (None without InputIBA).
        gan_settings (tuple): ``(name, value)`` pairs of the GAN prior's settings.
    """
    model: str
    model_sha256: str
    layer: typing.Optional[str] = None
    targets: str = "predicted"
    preprocess: str = "unit"
    resize: typing.Optional[tuple] = None
    hyperparameters: tuple = ()
    custom_objects: tuple = ()
    tf_threads: typing.Optional[int] = None
    host_workers: tuple = ()
    readout: typing.Optional[str] = None
    readout_sha256: str = ""
    input_resolution: bool = False
    input_settings: tuple = ()
    prior_scale: typing.Optional[float] = None
    prior: typing.Optional[str] = None
    gan_settings: tuple = ()

    def model_key(self):
        """What identifies a loaded model and analyzer (threads and class indices do not;
        whether the predicted classes are explained does: it is the analyzer's mode)."""
        return (self.model, self.model_sha256, self.layer, self.custom_objects,
                self.hyperparameters, self.targets == "predicted", self.readout,
                self.readout_sha256, self.input_resolution, self.input_settings,
                self.prior_scale, self.prior, self.gan_settings)


def _session_config(threads):
    """Imports TensorFlow quietly; with ``threads``, gives Keras a session limited to them."""
    from ..quiet import quiet_tensorflow
    quiet_tensorflow()
    from ..tensorflow_v1.compat import tf, set_session, use_graph_mode
    use_graph_mode()        # a worker is a program: it chooses graph mode as a user would
    if threads is None:
        return None
    config = tf.ConfigProto(intra_op_parallelism_threads=threads,
                            inter_op_parallelism_threads=min(2, threads))
    set_session(tf.Session(config=config))
    return config


class Explainer:
    """A loaded model and its IBA analyzer; explains items one chunk at a time.

    Args:
        job (Job): the model, layer and hyperparameters.
        tf_threads (int): limit TensorFlow to this many threads (a new Keras session);
            None keeps the current Keras session.

    Attributes:
        info (dict): ``input_shape`` (H, W, C), ``n_classes``, ``layer`` (the name used),
            ``softmax_removed`` (bool: the logits are explained), ``map_shape`` (H, W).
        load_seconds (float): time to load the model and build the analyzer.

    Raises:
        DatasetError: the model does not load, takes no images, or has no such layer.
    """

    def __init__(self, job, tf_threads=None):
        start = time.time()
        self.job = job
        config = _session_config(tf_threads)
        from ..tensorflow_v1.model_analyzer import (InputModelAnalyzer, ModelAnalyzer,
                                                    ReadoutModelAnalyzer)
        from ..tensorflow_v1.models import image_input_shape, load_keras_model
        model = load_keras_model(job.model, job.custom_objects)
        try:
            input_shape = image_input_shape(model)
        except DatasetError as error:
            raise DatasetError("{}; explain-dataset needs images of a fixed size (height, "
                               "width, 1 or 3 channels)".format(error))
        if job.readout:
            self.explainer = ReadoutModelAnalyzer.load(model, job.readout, job.layer)
        else:
            kind, stage = ModelAnalyzer, {}
            if job.input_resolution:
                kind, stage = InputModelAnalyzer, dict(
                    input_settings=dict(job.input_settings), prior_scale=job.prior_scale,
                    prior=job.prior or "feature", gan_settings=dict(job.gan_settings))
            self.explainer = kind.build(
                model, job.layer, explain_predicted=job.targets == "predicted",
                copy_session_config=config, **dict(job.hyperparameters), **stage)
        self.analyzer = getattr(self.explainer, "analyzer", None)   # None for a readout
        self.info = {"input_shape": input_shape, "n_classes": self.explainer.n_classes,
                     "layer": self.explainer.layer,
                     "softmax_removed": self.explainer.softmax_removed,
                     "map_shape": input_shape[:2]}
        self.state_token = None
        self.lock = threading.Lock()
        self.load_seconds = time.time() - start

    # ------------------------------------------------------------------ statistics
    def fit(self, items):
        """Estimates the feature statistics (InputIBA's: also the input's) on ``items``
        (unreadable ones are skipped).

        Returns:
            tuple: ``(state, n_used)``: the analyzer's statistics (``state_dict()``) and the
            number of items they are estimated on.
        """
        if self.analyzer is None:       # a readout: its file holds the statistics
            return {"estimator": {"n": 0}, "defaults": {}}, 0
        used = 0
        with self.lock:
            for start in range(0, len(items), FIT_BLOCK):
                images = []
                for item in items[start:start + FIT_BLOCK]:
                    try:
                        images.append(read_item(item, self.info["input_shape"],
                                                self.job.resize))
                    except Exception:           # reported when the item itself is explained
                        continue
                if images:
                    self.analyzer.fit(preprocess(np.stack(images), self.job.preprocess))
                    used += len(images)
            if used < 2:
                raise DatasetError("only {} of the {} items chosen for the feature statistics "
                                   "could be read; at least 2 are needed".format(
                                       used, len(items)))
            self.state_token = None
            return self.state(), used

    def state(self):
        """The analyzer's statistics and defaults, as a picklable dict (InputIBA's:
        ``{"feature": ..., "input": ...}``, one such dict per stage)."""
        state = self.analyzer.state_dict()
        if self.job.input_resolution:
            return {stage: _without_names(part) for stage, part in state.items()}
        return _without_names(state)

    # ------------------------------------------------------------------ explaining
    def _targets(self, items):
        """The classes to explain, or None for the predicted ones."""
        rule = self.job.targets
        if rule == "predicted":
            return None
        if rule == "label":
            return [item.label for item in items]
        return int(rule)

    def _explain_loaded(self, items, x):
        """Explains readable items; returns (maps, targets, predicted)."""
        return self.explainer.explain(x, self._targets(items),
                                      keys=[item.key for item in items])

    def explain(self, items, state=None, state_token=None):
        """Explains ``items`` (a list of :class:`Item`) with the given statistics.

        An item that cannot be read or explained gets an error message instead of a map;
        the others are explained together (one optimisation for up to 8 at once).

        Returns:
            dict: ``index``, ``saliency`` (n, H, W), ``target``, ``predicted``, ``bits``,
            ``seconds`` (arrays with n entries) and ``error`` (n strings; "" for success), as
            :meth:`Store.write` takes it.
        """
        n = len(items)
        result = {"index": np.array([item.index for item in items], dtype=np.int64),
                  "saliency": np.zeros((n,) + self.info["map_shape"], dtype=np.float32),
                  "target": np.full(n, -1, dtype=np.int64),
                  "predicted": np.full(n, -1, dtype=np.int64),
                  "bits": np.full(n, np.nan), "seconds": np.zeros(n), "error": [""] * n}
        with self.lock:
            if self.analyzer is not None and state is not None and \
                    state_token != self.state_token:
                self.analyzer.load_state_dict(state)
                self.state_token = state_token
            images, readable = [], []
            for position, item in enumerate(items):
                start = time.time()
                try:
                    images.append(read_item(item, self.info["input_shape"], self.job.resize))
                    readable.append(position)
                except Exception as error:
                    result["error"][position] = "cannot read: {}".format(_message(error))
                result["seconds"][position] = time.time() - start
            if readable:
                x = preprocess(np.stack(images), self.job.preprocess)
                self._explain_into(result, items, readable, x)
        return result

    def _explain_into(self, result, items, positions, x):
        start = time.time()
        try:
            outcome = self._explain_loaded([items[p] for p in positions], x)
        except Exception as error:
            if len(positions) == 1:
                result["error"][positions[0]] = "cannot explain: {}".format(_message(error))
                result["seconds"][positions[0]] += time.time() - start
                return
            for i, position in enumerate(positions):  # find the item(s) that fail
                self._explain_into(result, items, [position], x[i:i + 1])
            return
        share = (time.time() - start) / len(positions)
        for position, saliency, target, predicted in zip(positions, *outcome):
            result["saliency"][position] = saliency
            result["target"][position] = target
            result["predicted"][position] = predicted
            result["bits"][position] = float(np.sum(saliency, dtype=np.float64))
            result["seconds"][position] += share


def _without_names(state):
    """An ``IBACopy.state_dict()`` without the tensor names (informative only)."""
    state = dict(state)
    state.pop("feature", None)
    state.pop("outputs", None)
    return state


def _message(error):
    text = str(error).strip().splitlines()
    return "{}: {}".format(type(error).__name__, text[0]) if text else type(error).__name__


# ---------------------------------------------------------------------- per-process cache
_EXPLAINERS = {}
_CACHE_LOCK = threading.Lock()


def _worker_threads(job):
    """TensorFlow threads for this worker: the job's, else the cores shared by its workers."""
    if job.tf_threads is not None:
        return job.tf_threads
    try:
        from distributed import get_worker
        from distributed.comm import get_address_host
        host = get_address_host(get_worker().address)
    except (ImportError, ValueError):
        return None
    workers_here = dict(job.host_workers).get(host, 1)
    return max(1, cpu_count() // max(1, workers_here))


def cached_explainer(job):
    """This process's :class:`Explainer` for ``job``, loaded on the first call."""
    key = job.model_key()
    with _CACHE_LOCK:
        explainer = _EXPLAINERS.get(key)
        if explainer is None:
            _EXPLAINERS.clear()
            explainer = _EXPLAINERS[key] = Explainer(job, _worker_threads(job))
        explainer.job = job          # the same model may be used with other targets / pixels
    return explainer


def warm_up_task(job):
    """Loads the model in this worker; returns ``{"info", "load_seconds"}``."""
    explainer = cached_explainer(job)
    return {"info": explainer.info, "load_seconds": explainer.load_seconds}


def prepare_task(job, fit_items):
    """Loads the model and estimates the statistics on ``fit_items``.

    Returns:
        dict: ``info``, ``state`` (the statistics), ``fit_used`` (items used),
        ``fit_seconds`` and ``load_seconds``.
    """
    explainer = cached_explainer(job)
    start = time.time()
    state, used = explainer.fit(fit_items)
    return {"info": explainer.info, "state": state, "fit_used": used,
            "fit_seconds": time.time() - start, "load_seconds": explainer.load_seconds}


def explain_task(job, state, state_token, items):
    """Explains ``items`` in this worker (see :meth:`Explainer.explain`)."""
    return cached_explainer(job).explain(items, state, state_token)
