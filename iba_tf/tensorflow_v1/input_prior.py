"""The settings and the prior of InputIBA's stages (no TensorFlow here).

See :mod:`iba_tf.tensorflow_v1.input_iba`, :mod:`iba_tf.tensorflow_v1.input_gan` and
``docs/input_iba.md``.
"""
import numpy as np

from .. import hyperparameters
from ..errors import InputError

__all__ = ["INPUT_DEFAULTS", "PRIOR_SCALE", "PRIORS", "GAN_DEFAULTS", "STAGE_DEFAULTS",
           "prior_masks", "merged_settings", "stage_settings", "check_prior_scale", "check_prior",
           "gan_settings", "Estimators"]

#: defaults of the input stage (:data:`iba_tf.hyperparameters.INPUT_DEFAULTS`, defined there
#: so that the command line needs no TensorFlow); the feature stage uses
#: ``hyperparameters.DEFAULTS``
INPUT_DEFAULTS = hyperparameters.INPUT_DEFAULTS
#: the largest prior weight (:data:`iba_tf.hyperparameters.PRIOR_SCALE`); < 1 keeps passing
#: costly everywhere
PRIOR_SCALE = hyperparameters.PRIOR_SCALE
#: the sources of the input stage's prior (:data:`iba_tf.hyperparameters.PRIORS`):
#: ``"feature"``, the upsampled stage-1 map, or ``"gan"``, the input mask of a generator fitted
#: per input (:mod:`.input_gan`)
PRIORS = hyperparameters.PRIORS
#: settings of the GAN stage (``prior="gan"``): :data:`iba_tf.hyperparameters.GAN_DEFAULTS`
#: (defined there, with their checks and help, so that the command line needs no TensorFlow)
GAN_DEFAULTS = hyperparameters.GAN_DEFAULTS
#: the defaults of an InputIBA (the stages' settings, the prior's kind and scale)
STAGE_DEFAULTS = dict(feature=dict(hyperparameters.DEFAULTS), input=INPUT_DEFAULTS,
                      prior_scale=PRIOR_SCALE, prior="feature", gan=GAN_DEFAULTS)


def prior_masks(feature_maps, channels, scale):
    """The prior of the input stage from the stage-1 maps (bits per input pixel).

    Each map is divided by its maximum and multiplied by ``scale`` (a map without any
    information gives 0: the plain objective), then repeated over the input's channels.

    Returns:
        np.ndarray: ``(n, *spatial, channels)`` float32 in ``[0, scale]``.
    """
    maps = np.maximum(np.asarray(feature_maps, np.float64), 0.)
    peak = maps.reshape(len(maps), -1).max(axis=1).reshape((-1,) + (1,) * (maps.ndim - 1))
    masks = scale * np.divide(maps, peak, out=np.zeros_like(maps), where=peak > 0)
    return np.repeat(masks[..., None], channels, axis=-1).astype(np.float32)


def stage_settings(defaults, given, what):
    """``defaults`` updated with the hyperparameter dict ``given``, checked."""
    if given is None:
        return dict(defaults)
    if not isinstance(given, dict):
        raise InputError("{}={!r} is invalid: it must be a dict of IBA hyperparameters such "
                         "as {{'beta': 10, 'steps': 10}}.".format(what, given))
    try:
        return hyperparameters.merge(defaults, **given)
    except TypeError as error:
        raise InputError("{}: {}".format(what, error)) from None
    except InputError as error:
        raise InputError("{}: {}".format(what, error)) from None


def merged_settings(defaults, feature_settings=None, input_settings=None, prior_scale=None,
                    prior=None, gan=None):
    """``defaults`` (as :data:`STAGE_DEFAULTS`) with the given overrides, checked; a new dict.

    ``gan`` is a dict of GAN settings (:data:`GAN_DEFAULTS`); ``prior`` one of
    :data:`PRIORS`.

    Raises:
        iba_tf.errors.InputError: a bad or unknown hyperparameter (naming its stage), a
            ``prior_scale`` outside [0, 1], an unknown ``prior``.
    """
    return dict(feature=stage_settings(defaults["feature"], feature_settings, "feature_settings"),
                input=stage_settings(defaults["input"], input_settings, "input_settings"),
                prior_scale=defaults["prior_scale"] if prior_scale is None
                else check_prior_scale(prior_scale),
                prior=defaults["prior"] if prior is None else check_prior(prior),
                gan=gan_settings(defaults["gan"], gan))


#: ``value`` as a float in [0, 1], else InputError
#: (:func:`iba_tf.hyperparameters.check_prior_scale`)
check_prior_scale = hyperparameters.check_prior_scale
#: ``value`` if it is one of :data:`PRIORS`, else InputError
#: (:func:`iba_tf.hyperparameters.check_prior`)
check_prior = hyperparameters.check_prior
#: ``defaults`` updated with the dict ``given`` of GAN settings, checked
#: (:func:`iba_tf.hyperparameters.gan_settings`)
gan_settings = hyperparameters.gan_settings


class Estimators:
    """The estimators of both stages, reset and counted together.

    Attributes:
        feature (WelfordEstimator): the feature stage's.
        input (WelfordEstimator): the input stage's.
    """

    def __init__(self, feature, input):  # noqa: A002 - the stage's name
        self.feature = feature
        self.input = input

    def reset(self):
        """Forgets all samples of both estimators."""
        self.feature.reset()
        self.input.reset()

    def n_samples(self):
        """The number of samples both estimators have seen (the smaller count)."""
        return min(self.feature.n_samples(), self.input.n_samples())
