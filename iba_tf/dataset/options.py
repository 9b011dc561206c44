"""The options of a data-set run (:func:`iba_tf.dataset.explain_dataset`), as one record."""
import dataclasses
import os
import typing

import numpy as np

from .. import hyperparameters as hp
from ..images import PREPROCESSING
from .errors import DatasetError
from .sources import parse_size, parse_targets

__all__ = ["DatasetOptions", "check_input_resolution"]


def _positive_int(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise DatasetError("{}={!r} is invalid: it must be an int >= {}".format(
            name, value, minimum))
    return int(value)


def _readout(path, targets):
    """The readout file's absolute path (None stays None); it must exist, and the readout
    explains only the predicted classes."""
    if path is None:
        return None
    if not os.path.isfile(path):
        raise DatasetError("readout file not found: {}; train one with 'iba-tf "
                           "train-readout'".format(path))
    if targets != "predicted":
        raise DatasetError("--targets {} does not go with --readout: the readout explains the "
                           "model's prediction (it sees no class index); drop --targets"
                           .format(targets))
    return os.path.abspath(path)


def check_input_resolution(value, readout):
    """``value`` (``--input-resolution``) as a bool, checked against ``readout`` (a path or
    None).

    Raises:
        ~iba_tf.errors.InputError: ``value`` is no bool, or True with a readout.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise DatasetError("input_resolution={!r} is invalid: it must be True or False"
                           .format(value))
    if value and readout is not None:
        raise DatasetError("--input-resolution and --readout do not combine: the readout "
                           "gives its own maps in one pass, InputIBA optimises a bottleneck on "
                           "the input; drop one of them")
    return bool(value)


def _input_stage(options):
    """The input stage's fields of ``options`` checked: ``input_settings`` all seven (typed),
    ``prior_scale`` a float, ``prior`` one of :data:`~iba_tf.hyperparameters.PRIORS` and
    ``gan_settings`` all seven (typed; ``{}`` for the feature prior) with
    ``input_resolution``; without it ``{}``, None, None and ``{}``, and given values are
    refused, as are GAN settings without ``prior="gan"``."""
    settings, prior_scale, prior, gan = (options.input_settings, options.prior_scale,
                                         options.prior, options.gan_settings)
    if not options.input_resolution:
        if settings or prior_scale is not None or prior is not None or gan:
            raise DatasetError("input_settings, prior_scale, prior and gan_settings set "
                               "InputIBA's input stage: pass input_resolution=True "
                               "(--input-resolution), or drop them")
        return dict(input_settings={}, prior_scale=None, prior=None, gan_settings={})
    if not isinstance(settings, dict):
        raise DatasetError("input_settings={!r} is invalid: it must be a dict of IBA "
                           "hyperparameters such as {{'beta': 10}}".format(settings))
    try:
        settings = hp.resolve(hp.INPUT_DEFAULTS, **settings)
    except (TypeError, ValueError) as error:
        raise DatasetError("input_settings: {}".format(error)) from None
    prior = hp.check_prior("feature" if prior is None else prior)
    if gan and prior != "gan":
        raise DatasetError("gan_settings set the GAN prior: pass prior='gan' (--input-prior "
                           "gan), or drop them")
    gan = hp.gan_settings(hp.GAN_DEFAULTS, gan) if prior == "gan" else {}
    return dict(input_settings=settings, prior=prior,
                prior_scale=hp.PRIOR_SCALE if prior_scale is None else hp.check_prior_scale(
                    prior_scale),
                gan_settings={g.name: g.type(gan[g.name]) for g in hp.GAN_SETTINGS if gan})


@dataclasses.dataclass(frozen=True)
class DatasetOptions:
    """How to explain a data set (everything but the model, the data and the output file).

    Attributes:
        layer (str): the layer to put the bottleneck after; None: the default layer.
        targets: ``"predicted"`` (the model's top class), ``"label"`` (the folder's class or
            the .npz labels) or a class index.
        preprocess (str): pixel scaling (:data:`iba_tf.images.PREPROCESSING`).
        resize: resize images to this size (an int or ``(height, width)``), then crop the
            centre to the model's size; None: resize to the model's size.
        array_key (str): the images array of an .npz file (default: guessed).
        label_key (str): the labels array of an .npz file (default: guessed).
        hyperparameters (dict): IBA hyperparameters (names of
            ``iba_tf.hyperparameters.HYPERPARAMETERS``); the others keep their defaults.
        fit_samples (int): items (a random subset) to estimate the feature statistics on,
            once, before the first item is explained; they are kept in the file.
        seed (int): seed of that subset.
        chunk_size (int): items per task (explained together; at most this many per worker
            are lost by an interruption).
        workers (int): local Dask worker processes (default: one per core); 0 explains in
            this process without Dask.
        scheduler (str): address of a running Dask scheduler to use instead.
        tf_threads (int): TensorFlow threads per worker (default: cores / workers).
        retry_failed (bool): explain the items that failed before again.
        overwrite (bool): start a new file even if the output file exists.
        custom_objects (tuple): ``"module:attr"`` specs of custom layers the model needs.
        readout (str): a trained Readout Bottleneck file (``iba-tf train-readout``): each
            chunk is explained in one pass, for the predicted class; None: the Per-Sample
            Bottleneck.
        input_resolution (bool): explain with
            :class:`~iba_tf.tensorflow_v1.input_iba.InputIBA` (maps at the input's resolution,
            bits per input pixel); the hyperparameters set its stage 1, the feature
            bottleneck after ``layer``. Not with ``readout``.
        input_settings (dict): hyperparameters of InputIBA's input stage (names as for
            ``hyperparameters``; the others keep
            :data:`~iba_tf.hyperparameters.INPUT_DEFAULTS`). Only with ``input_resolution``.
        prior_scale (float): InputIBA's largest prior weight, in [0, 1] (None:
            :data:`~iba_tf.hyperparameters.PRIOR_SCALE`). Only with ``input_resolution``.
        prior (str): the prior of InputIBA's input stage, ``"feature"`` or ``"gan"``
            (None: ``"feature"``). Only with ``input_resolution``.
        gan_settings (dict): settings of the GAN prior (names of
            :data:`~iba_tf.hyperparameters.GAN_SETTINGS`; the others keep
            :data:`~iba_tf.hyperparameters.GAN_DEFAULTS`). Only with ``prior="gan"``.
        progress (bool): show a progress bar.
        log (callable): where messages go (None: nowhere).
    """
    layer: typing.Optional[str] = None
    targets: typing.Any = "predicted"
    preprocess: str = "unit"
    resize: typing.Any = None
    array_key: typing.Optional[str] = None
    label_key: typing.Optional[str] = None
    hyperparameters: dict = dataclasses.field(default_factory=dict)
    fit_samples: int = 500
    seed: int = 0
    chunk_size: int = 8
    workers: typing.Optional[int] = None
    scheduler: typing.Optional[str] = None
    tf_threads: typing.Optional[int] = None
    retry_failed: bool = False
    overwrite: bool = False
    custom_objects: tuple = ()
    readout: typing.Optional[str] = None
    input_resolution: bool = False
    input_settings: dict = dataclasses.field(default_factory=dict)
    prior_scale: typing.Optional[float] = None
    prior: typing.Optional[str] = None
    gan_settings: dict = dataclasses.field(default_factory=dict)
    progress: bool = True
    log: typing.Optional[typing.Callable] = print

    @classmethod
    def from_keywords(cls, options=None, **keywords):
        """``options`` (or the defaults) with ``keywords``: fields or hyperparameter names.

        Raises:
            TypeError: a keyword that is neither.
        """
        options = options or cls()
        fields = {field.name for field in dataclasses.fields(cls)}
        hyper = {name: keywords.pop(name) for name in list(keywords) if name in hp.DEFAULTS}
        unknown = sorted(set(keywords) - fields)
        if unknown:
            raise TypeError("unknown option(s) {}; known are the IBA hyperparameters ({}) and "
                            "{}".format(", ".join(unknown), ", ".join(hp.DEFAULTS),
                                        ", ".join(sorted(fields - {"hyperparameters"}))))
        if hyper:
            keywords["hyperparameters"] = dict(options.hyperparameters, **hyper)
        return dataclasses.replace(options, **keywords)

    def checked(self):
        """A copy with every value checked and in its canonical form.

        ``resize`` becomes ``(height, width)`` or None, ``targets`` ``"label"``,
        ``"predicted"`` or a class index as a string, ``hyperparameters`` all seven (typed),
        ``custom_objects`` a tuple, ``readout`` an absolute path (or None),
        ``input_resolution`` a bool, ``input_settings`` all seven (typed), ``prior_scale``
        a float and ``prior`` a string with ``input_resolution`` (``{}`` and None without),
        ``gan_settings`` all seven (typed) with ``prior="gan"`` (else ``{}``) and ``log`` a
        callable.

        Raises:
            ~iba_tf.errors.InputError: naming the first bad value and what was expected.
        """
        workers = None if self.workers is None else _positive_int(self.workers, "workers", 0)
        if self.scheduler and workers == 0:
            raise DatasetError("workers=0 explains in this process; it cannot go with a "
                               "scheduler")
        chunk_size = _positive_int(self.chunk_size, "chunk_size")
        fit_samples = _positive_int(self.fit_samples, "fit_samples", 2)
        tf_threads = None if self.tf_threads is None else _positive_int(self.tf_threads,
                                                                        "tf_threads")
        if self.preprocess not in PREPROCESSING:
            raise DatasetError("preprocess {!r} is unknown; choose one of {}".format(
                self.preprocess, ", ".join(PREPROCESSING)))
        readout = _readout(self.readout, parse_targets(self.targets))
        input_resolution = check_input_resolution(self.input_resolution, readout)
        try:
            hyperparameters = hp.resolve(**self.hyperparameters)
        except TypeError as error:
            raise DatasetError(str(error))
        stage = _input_stage(dataclasses.replace(self, input_resolution=input_resolution))
        return dataclasses.replace(
            self, workers=workers, chunk_size=chunk_size, fit_samples=fit_samples,
            tf_threads=tf_threads, hyperparameters=hyperparameters,
            resize=parse_size(self.resize), targets=parse_targets(self.targets),
            custom_objects=tuple(self.custom_objects or ()), readout=readout,
            input_resolution=input_resolution, log=self.log or (lambda *args, **kwargs: None),
            **stage)
