"""Reading images from disk and preparing them the way Keras models expect."""
import os

import numpy as np

__all__ = ["PREPROCESSING", "IMAGE_EXTENSIONS", "load_image", "preprocess", "list_images",
           "get_imagenet_generator"]

#: The file name endings :func:`list_images` takes for images (lower case).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".ppm", ".webp")

#: The names :func:`preprocess` takes, each mapped to what it does to pixel values in 0..255
#: (RGB, or grey).
PREPROCESSING = {
    "unit": "scale to [0, 1]",
    "symmetric": "scale to [-1, 1]",
    "caffe": "keras.applications 'caffe' mode: RGB->BGR, subtract the ImageNet channel means",
    "tf": "keras.applications 'tf' mode: scale to [-1, 1]",
    "torch": "keras.applications 'torch' mode: [0, 1], then ImageNet mean/std per channel",
    "none": "keep 0..255",
}


def load_image(path, size=None, grayscale=False):
    """Reads an image file as a float32 array ``(h, w, 3)`` (or ``(h, w, 1)``) in 0..255.

    Args:
        path (str): the image file.
        size (tuple): ``(height, width)`` to resize to (bilinear); None keeps the size.
        grayscale (bool): convert to one grey channel.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not an image that Pillow can read, or it declares more
            pixels than Pillow's safety limit (``PIL.Image.MAX_IMAGE_PIXELS``, doubled).
    """
    from PIL import Image
    if not os.path.isfile(path):
        raise FileNotFoundError("image file not found: {}".format(path))
    try:
        with Image.open(path) as image:
            image = image.convert("L" if grayscale else "RGB")
            if size is not None:
                image = image.resize((int(size[1]), int(size[0])), Image.BILINEAR)
            array = np.asarray(image, dtype=np.float32)
    except Image.DecompressionBombError as error:
        # a header may declare any size: refused before the pixels are decoded
        raise ValueError("cannot read image {}: {} Shrink it first if it is a real "
                         "image.".format(path, str(error).strip())) from None
    except (OSError, ValueError) as error:
        raise ValueError("cannot read image {}: {}".format(path, error)) from None
    return array[..., None] if grayscale else array


def preprocess(images, mode):
    """Applies a preprocessing ``mode`` (see :data:`PREPROCESSING`) to images in 0..255.

    Returns a new float32 array; ``images`` is not changed.
    """
    if mode not in PREPROCESSING:
        raise ValueError("unknown preprocessing {!r}; choose one of {}".format(
            mode, ", ".join(PREPROCESSING)))
    images = np.array(images, dtype=np.float32)
    if mode == "unit":
        return images / 255.
    if mode == "symmetric":
        return images / 127.5 - 1.
    if mode == "none":
        return images
    if images.shape[-1] != 3:
        raise ValueError("preprocessing {!r} needs RGB images, got {} channel(s)".format(
            mode, images.shape[-1]))
    from keras.applications.imagenet_utils import preprocess_input
    return preprocess_input(images, mode=mode)


def list_images(folder):
    """Returns the image files under ``folder`` (recursively), sorted."""
    if not os.path.isdir(folder):
        raise FileNotFoundError("folder not found: {}".format(folder))
    found = []
    for root, _, files in os.walk(folder):
        found.extend(os.path.join(root, name) for name in files
                     if name.lower().endswith(IMAGE_EXTENSIONS))
    return sorted(found)


def _class_folders(path):
    if not os.path.isdir(path):
        raise FileNotFoundError("image directory not found: {}".format(path))
    classes = sorted(entry for entry in os.listdir(path)
                     if os.path.isdir(os.path.join(path, entry)))
    if not classes:
        raise ValueError("{} has no class folders: expected one sub-folder per class, as in "
                         "an ImageNet train or validation directory".format(path))
    return classes


def get_imagenet_generator(path, target_size=(256, 256), crop_size=(224, 224), batch_size=50,
                           seed=0, preprocess_input=None, **kwargs):
    """Returns batches ``(images, targets)`` from a directory with one folder per class.

    Images are resized to ``target_size``, centre-cropped to ``crop_size`` and passed to
    ``preprocess_input`` (default: ``keras.applications.resnet50.preprocess_input``, the
    'caffe' mode most keras.applications models use). The order is shuffled with ``seed``;
    targets are the index of the class folder in sorted order.

    Returns:
        keras.utils.Sequence: ``len()`` batches per epoch; iterate it, index it, or pass it to
        ``fit_generator``.

    Example:
        >>> batches = get_imagenet_generator("/data/imagenet/val", batch_size=32)
        >>> analyzer.fit_generator(batches, steps_per_epoch=50)
    """
    import keras
    if kwargs:
        raise TypeError("unexpected argument(s) {}".format(", ".join(sorted(kwargs))))
    if crop_size[0] > target_size[0] or crop_size[1] > target_size[1]:
        raise ValueError("crop_size {} is larger than target_size {}".format(
            crop_size, target_size))
    if preprocess_input is None:
        from keras.applications.resnet50 import preprocess_input
    classes = _class_folders(path)
    items = [(file, label) for label, name in enumerate(classes)
             for file in list_images(os.path.join(path, name))]
    if not items:
        raise ValueError("no image files found in the class folders of {}".format(path))
    order = np.random.RandomState(seed).permutation(len(items))
    items = [items[i] for i in order]
    top = (target_size[0] - crop_size[0]) // 2
    left = (target_size[1] - crop_size[1]) // 2

    class ImageFolderBatches(keras.utils.Sequence):
        """Batches of ``(images, targets)`` from class folders."""
        classes_ = classes

        def __len__(self):
            return int(np.ceil(len(items) / float(batch_size)))

        def __getitem__(self, index):
            if not 0 <= index < len(self):
                raise IndexError("batch {} of {}".format(index, len(self)))
            chunk = items[index * batch_size:(index + 1) * batch_size]
            images = np.stack([load_image(file, target_size)[
                top:top + crop_size[0], left:left + crop_size[1]] for file, _ in chunk])
            return preprocess_input(images), np.array([label for _, label in chunk])

    return ImageFolderBatches()
