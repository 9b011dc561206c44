"""iba_tf.pytorch: the optional PyTorch port of the Per-Sample and Readout Bottlenecks.

Install it on a modern Python with the ``torch`` extra (``pip install "iba-tf[torch]"``). It
imports torch, never TensorFlow; ``import iba_tf`` never imports torch. The numpy estimator,
the saliency conversion, the blur matrices and the plotting are the code the TensorFlow port
uses.

Example:
    >>> from iba_tf.pytorch import IBA
    >>> from iba_tf import plot_saliency_map
    >>> iba = IBA(model.features[17])
    >>> iba.estimate(model, dataloader, n_samples=5000)
    >>> loss_fn = lambda x: -torch.log_softmax(model(x), 1)[:, target].mean()
    >>> saliency = iba.analyze(image[None], loss_fn)
    >>> plot_saliency_map(saliency, tensor_to_np_img(image))
"""
try:
    import torch  # noqa: F401
except ImportError as error:  # pragma: no cover - the port's tests run with torch
    raise ImportError(
        "iba_tf.pytorch needs PyTorch, which is not installed here. Install the extra on a "
        "Python that torch supports (e.g. 3.11): pip install \"iba-tf[torch]\"") from error

from ..plotting import plot_saliency_map  # noqa: E402
from ..welford import WelfordEstimator  # noqa: E402
from .bottleneck import IBA  # noqa: E402
from .estimator import TorchWelfordEstimator  # noqa: E402
from .readout import IBAReadout  # noqa: E402
from .utils import (IMAGENET_MEAN, IMAGENET_STD, get_imagenet_folder,  # noqa: E402
                    imagenet_transform, insert_into_sequential, tensor_to_np_img,
                    to_saliency_map)

__all__ = ["IBA", "IBAReadout", "TorchWelfordEstimator", "WelfordEstimator", "to_saliency_map",
           "plot_saliency_map", "insert_into_sequential", "tensor_to_np_img",
           "imagenet_transform", "get_imagenet_folder", "IMAGENET_MEAN", "IMAGENET_STD"]
