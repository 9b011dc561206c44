"""Helpers of the PyTorch port: saliency conversion, model surgery, images, ImageNet loading.

``imagenet_transform`` and ``get_imagenet_folder`` need torchvision, which is imported only
when they are called.
"""
import collections
import numbers

import numpy as np
import torch
from torch import nn

from .. import saliency as _saliency

__all__ = ["to_saliency_map", "insert_into_sequential", "tensor_to_np_img", "imagenet_transform",
           "get_imagenet_folder", "IMAGENET_MEAN", "IMAGENET_STD"]

# The per-channel normalisation of torchvision's ImageNet models (RGB, values in [0, 1]).
#: torchvision's ImageNet channel means (RGB, for images in ``[0, 1]``).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
#: torchvision's ImageNet channel standard deviations (RGB, for images in ``[0, 1]``).
IMAGENET_STD = (0.229, 0.224, 0.225)

TORCHVISION_MISSING = (
    "{} needs torchvision, which is not installed. Install the PyTorch extra and a torchvision "
    "release built for your torch version: pip install \"iba-tf[torch]\" torchvision")


def to_saliency_map(capacity, shape=None, data_format="channels_first"):
    """Converts a capacity (nats per neuron) to a saliency map (bits per pixel).

    The PyTorch layout of :func:`iba_tf.to_saliency_map` (the same code): sum over channels,
    nats to bits, bilinear resize to ``shape`` keeping the total number of bits.

    Args:
        capacity (torch.Tensor or np.ndarray): capacity of one sample, ``(c, h, w)`` (or
            ``(c, t)`` for sequences).
        shape (tuple): ``(height, width)`` of the input; None keeps the feature map's size.
        data_format (str): ``"channels_first"`` (torch's layout, default) or
            ``"channels_last"``.

    Returns:
        np.ndarray: the saliency map of shape ``shape``, in bits per pixel.

    Example:
        >>> saliency = to_saliency_map(torch.ones(512, 7, 7), (224, 224))
        >>> saliency.shape
        (224, 224)
    """
    if torch.is_tensor(capacity):
        capacity = capacity.detach().cpu().double().numpy()
    return _saliency.to_saliency_map(capacity, shape, data_format=data_format)


def insert_into_sequential(sequential, layer, idx):
    """Returns a new ``nn.Sequential`` with ``layer`` inserted at position ``idx``.

    The modules are shared with ``sequential`` (not copied). Numbered children are renumbered;
    named children keep their names and the new one is called ``"iba"`` (``"iba_1"``, ... if
    taken).

    Args:
        sequential (nn.Sequential): the model to extend.
        layer (nn.Module): the module to insert, e.g. an :class:`~iba_tf.pytorch.IBA`.
        idx (int): its position, ``0 <= idx <= len(sequential)``.

    Example:
        >>> model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))
        >>> iba = IBA()
        >>> model = insert_into_sequential(model, iba, 2)     # after the ReLU
    """
    if not isinstance(sequential, nn.Sequential):
        raise TypeError("insert_into_sequential expects an nn.Sequential, got {!r}."
                        .format(type(sequential).__name__))
    if not isinstance(layer, nn.Module):
        raise TypeError("The inserted layer must be an nn.Module, got {!r}."
                        .format(type(layer).__name__))
    if not isinstance(idx, numbers.Integral) or isinstance(idx, bool) \
            or not 0 <= idx <= len(sequential):
        raise ValueError("idx must be an int from 0 to {} (the length of the sequential); got "
                         "{!r}.".format(len(sequential), idx))
    children = list(sequential.named_children())
    if all(name.isdigit() for name, _ in children):
        modules = [module for _, module in children]
        modules.insert(idx, layer)
        return nn.Sequential(*modules)
    name, suffix = "iba", 0
    while name in dict(children):
        suffix += 1
        name = "iba_{}".format(suffix)
    children.insert(idx, (name, layer))
    return nn.Sequential(collections.OrderedDict(children))


def tensor_to_np_img(img_t):
    """Converts a normalised ImageNet image tensor ``(3, h, w)`` to a numpy image ``(h, w, 3)``.

    Undoes torchvision's ImageNet normalisation (mean ``IMAGENET_MEAN``, std ``IMAGENET_STD``)
    and clips to ``[0, 1]``, ready for :func:`~iba_tf.plot_saliency_map`. A batch of one
    ``(1, 3, h, w)`` is accepted too.
    """
    if not torch.is_tensor(img_t):
        raise TypeError("tensor_to_np_img expects a torch.Tensor, got {!r}."
                        .format(type(img_t).__name__))
    if img_t.ndim == 4 and img_t.shape[0] == 1:
        img_t = img_t[0]
    if img_t.ndim != 3 or img_t.shape[0] != 3:
        raise ValueError("tensor_to_np_img expects an RGB image of shape (3, h, w); got shape {}."
                         .format(tuple(img_t.shape)))
    img = img_t.detach().cpu().double().numpy().transpose(1, 2, 0)
    return np.clip(img * np.array(IMAGENET_STD) + np.array(IMAGENET_MEAN), 0., 1.)


def _import_torchvision(what):
    try:
        import torchvision
    except ImportError as error:
        raise ImportError(TORCHVISION_MISSING.format(what)) from error
    return torchvision


def imagenet_transform(resize=256, crop_size=224):
    """Returns torchvision's default ImageNet preprocessing.

    Resize the short side to ``resize``, centre crop ``crop_size``, convert to a tensor in
    ``[0, 1]`` and normalise with ``IMAGENET_MEAN`` / ``IMAGENET_STD``.

    Raises:
        ImportError: when torchvision is not installed (it names what to install).
    """
    transforms = _import_torchvision("imagenet_transform").transforms
    return transforms.Compose([
        transforms.Resize(resize),
        transforms.CenterCrop(crop_size),
        transforms.ToTensor(),
        transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


def get_imagenet_folder(path, image_size=224, transform="default"):
    """Returns a ``torchvision.datasets.ImageFolder`` of ``path`` with ImageNet preprocessing.

    Args:
        path (str): a folder with one sub-folder of images per class.
        image_size (int): the crop size of the default transform (resized to
            ``image_size * 256 // 224`` first).
        transform: ``"default"`` for :func:`imagenet_transform`, or any callable (or None).

    Raises:
        ImportError: when torchvision is not installed (it names what to install).
    """
    torchvision = _import_torchvision("get_imagenet_folder")
    if isinstance(transform, str):
        if transform != "default":
            raise ValueError("transform must be 'default', a callable or None; got {!r}."
                             .format(transform))
        transform = imagenet_transform(resize=int(image_size * 256 // 224), crop_size=image_size)
    return torchvision.datasets.ImageFolder(path, transform=transform)
