"""ImageNet material available offline: class names, labelled photos, and local weights.

- :func:`imagenet_class_names`: the 1000 class names, read from the text files that ship
  inside the ``timm`` package (``timm/data/_info``); ``timm`` itself is never imported.
- :func:`imagenet_photos`: the 20 ImageNet-labelled photos that ship inside ``foolbox``
  (``foolbox/data/imagenet_<index>_<label>.jpg``).
- :func:`load_application`: a ``keras.applications`` model with weights from a local file;
  without the file it is built with ``weights=None`` and says so (nothing is downloaded).

Install the data packages without their dependencies:
``pip install --no-deps timm==0.9.12 foolbox==3.3.4``.
"""
import glob
import importlib.util
import os

import numpy as np

__all__ = ["imagenet_class_names", "imagenet_photos", "load_application"]


def _package_data(package, *parts):
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The package {0} is not installed; its data files are needed here. Install it "
            "with: pip install --no-deps {0}".format(package))
    return os.path.join(spec.submodule_search_locations[0], *parts)


def imagenet_class_names():
    """Returns the 1000 ImageNet class names in the order of the models' outputs.

    Each name is the first lemma of the class's WordNet synset, e.g. ``"tabby"`` for class 281.
    """
    folder = _package_data("timm", "data", "_info")
    with open(os.path.join(folder, "imagenet_synsets.txt")) as f:
        synsets = [line.strip() for line in f if line.strip()]
    lemmas = {}
    with open(os.path.join(folder, "imagenet_synset_to_lemma.txt")) as f:
        for line in f:
            synset, _, lemma = line.rstrip("\n").partition("\t")
            lemmas[synset] = lemma.split(",")[0].strip()
    return [lemmas.get(synset, synset) for synset in synsets]


def imagenet_photos(size=224, n=None):
    """Returns foolbox's ImageNet photos, resized to ``size`` x ``size``.

    Returns:
        tuple: ``(images, labels)``: float32 RGB images ``(n, size, size, 3)`` in 0..255 (not
        preprocessed) and their ImageNet class indices.
    """
    from ..images import load_image
    files = sorted(glob.glob(_package_data("foolbox", "data", "imagenet_*.jpg")))
    if not files:
        raise FileNotFoundError("No ImageNet photos found in the foolbox package.")
    files = files[:n]
    labels = np.array([int(os.path.splitext(os.path.basename(f))[0].split("_")[-1])
                       for f in files])
    return np.stack([load_image(f, (size, size)) for f in files]), labels


def load_application(name="VGG16", weights_path=None, input_shape=None):
    """Builds ``keras.applications.<name>``, with weights from a local file if it exists.

    Nothing is downloaded: ``weights_path`` is a local ``.h5`` of the model's ImageNet weights
    (the file keras.applications would download, e.g.
    ``vgg16_weights_tf_dim_ordering_tf_kernels.h5``). When it is None or missing, the model
    is built with ``weights=None`` (random weights).

    Returns:
        tuple: ``(model, pretrained)``, ``pretrained`` False for random weights.
    """
    from ..tensorflow_v1.compat import keras
    try:
        build = getattr(keras.applications, name)
    except AttributeError:
        raise ValueError("keras.applications has no model {!r}".format(name)) from None
    kwargs = {} if input_shape is None else dict(input_shape=input_shape)
    if weights_path and os.path.isfile(weights_path):
        return build(weights=weights_path, **kwargs), True
    return build(weights=None, **kwargs), False
