"""What a data-set run explains: the items of an image folder or of an array file.

A source is listed once, in the process that writes the results (no TensorFlow needed). The
workers get small :class:`Item` tuples and read the pixels themselves with :func:`read_item`,
so the files must be at the same path on every worker (one machine, or a shared file system).
"""
import collections
import os
import zipfile

import numpy as np

from ..images import list_images, load_image
from .errors import DatasetError

__all__ = ["Item", "Source", "open_source", "read_item", "parse_targets", "parse_size",
           "ARRAY_KEYS", "LABEL_KEYS"]

# Array names tried, in order, when an .npz file is given without --array-key / --label-key.
ARRAY_KEYS = ("x", "images", "X", "data", "arr_0")
LABEL_KEYS = ("y", "labels", "label", "targets")

Item = collections.namedtuple("Item", "index key file array_key row label")
Item.__doc__ = """One thing to explain: its position ``index`` in the source and its ``key``
(the image's path relative to the folder, or the array row as a string); ``file`` is the image
file or the array file, ``array_key`` the .npz member (None otherwise), ``row`` the array row
(None for images), ``label`` the class index (-1: no label)."""


class Source:
    """The items of a folder or an array file, in a fixed order.

    Attributes:
        kind (str): ``"folder"`` or ``"array"``.
        path (str): the absolute path of the folder or file.
        keys (list of str): one per item: the relative image path or the array row.
        labels (np.ndarray): int64, one per item; -1 where there is no label.
        has_labels (bool): whether the source gives labels.
        classes (list of str): class folder names (label ``i`` is ``classes[i]``), else [].
        array_key, label_key (str): the .npz members used (None otherwise).
        item_shape (tuple): ``(height, width, channels)`` of array items; None for folders.
    """

    def __init__(self, kind, path, keys, labels, classes=(), array_key=None, label_key=None,
                 item_shape=None, has_labels=True):
        self.kind = kind
        self.path = path
        self.keys = list(keys)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.classes = list(classes)
        self.array_key = array_key
        self.label_key = label_key
        self.item_shape = item_shape
        self.has_labels = has_labels

    def __len__(self):
        return len(self.keys)

    def items(self, indices):
        """Returns the :class:`Item` of each index."""
        if self.kind == "folder":
            return [Item(int(i), self.keys[i], os.path.join(self.path, *self.keys[i].split("/")),
                         None, None, int(self.labels[i])) for i in indices]
        return [Item(int(i), self.keys[i], self.path, self.array_key, int(i),
                     int(self.labels[i])) for i in indices]

    def describe(self):
        """A short description, e.g. ``"1000 images in 10 class folders of /data/val"``."""
        if self.kind == "folder":
            where = "{} class folders of {}".format(len(self.classes), self.path) \
                if self.classes else self.path
            return "{} images in {}".format(len(self), where)
        return "{} arrays of shape {} in {}{}".format(
            len(self), self.item_shape, self.path,
            "[{}]".format(self.array_key) if self.array_key else "")


def open_source(path, array_key=None, label_key=None):
    """Lists the items of a folder (one sub-folder per class) or of an .npy/.npz file.

    A folder is read as :func:`iba_tf.get_imagenet_generator` reads it: the sorted sub-folder
    names are the classes (label = index), their image files (recursively) the items; image
    files next to the class folders are ignored. A folder without sub-folders gives its
    images without labels. An array file holds images ``(N, H, W, C)`` or ``(N, H, W)``, in the
    0..255 range like image files (use ``preprocess="none"`` for prepared inputs); an .npz
    may hold labels ``(N,)`` too.

    Raises:
        DatasetError: the path does not exist, holds no images, or is no usable array file.
    """
    if not isinstance(path, str) or not path:
        raise DatasetError("the data set must be a folder or an .npy/.npz file, got {!r}"
                           .format(path))
    path = os.path.abspath(path)
    if os.path.isdir(path):
        if array_key or label_key:
            raise DatasetError("--array-key/--label-key are for .npz files; {} is a folder"
                               .format(path))
        return _folder_source(path)
    if not os.path.exists(path):
        raise DatasetError("data set not found: {} (expected a folder of class folders or an "
                           ".npy/.npz file)".format(path))
    if path.endswith(".npy"):
        if array_key or label_key:
            raise DatasetError("--array-key/--label-key are for .npz files; {} is an .npy file"
                               .format(path))
        return _npy_source(path)
    if path.endswith(".npz"):
        return _npz_source(path, array_key, label_key)
    raise DatasetError("{} is neither a folder nor an .npy/.npz file".format(path))


def _folder_source(path):
    classes = sorted(entry for entry in os.listdir(path)
                     if os.path.isdir(os.path.join(path, entry)))
    if classes:
        entries = [(os.path.relpath(file, path).replace(os.sep, "/"), label)
                   for label, name in enumerate(classes)
                   for file in list_images(os.path.join(path, name))]
        has_labels = True
    else:
        entries = [(os.path.basename(file), -1) for file in list_images(path)]
        has_labels = False
    if not entries:
        raise DatasetError("no image files in {}{}".format(
            path, " or its class folders" if classes else ""))
    keys, labels = zip(*entries)
    return Source("folder", path, keys, labels, classes, has_labels=has_labels)


def _check_images_shape(shape, where):
    if len(shape) not in (3, 4) or (len(shape) == 4 and shape[-1] not in (1, 3)):
        raise DatasetError("{} has shape {}; expected images (N, height, width, channels) with "
                           "1 or 3 channels, or (N, height, width)".format(where, shape))
    if shape[0] == 0:
        raise DatasetError("{} holds no images (shape {})".format(where, shape))
    return tuple(shape[1:3]) + ((shape[3],) if len(shape) == 4 else (1,))


def _npy_source(path):
    try:
        array = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as error:
        raise DatasetError("cannot read {} as an .npy array: {}".format(path, error))
    item_shape = _check_images_shape(array.shape, path)
    n = array.shape[0]
    return Source("array", path, [str(i) for i in range(n)], np.full(n, -1), (),
                  item_shape=item_shape, has_labels=False)


def _npz_shapes(path):
    """The shape of every array in an .npz file, read from the headers (no data loaded)."""
    shapes = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if not name.endswith(".npy"):
                    continue
                with archive.open(name) as member:
                    version = np.lib.format.read_magic(member)
                    read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                            else np.lib.format.read_array_header_2_0)
                    shapes[name[:-len(".npy")]] = read(member)[0]
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise DatasetError("cannot read {} as an .npz file: {}".format(path, error))
    return shapes


def _pick(shapes, key, candidates, option, path, test):
    if key is not None:
        if key not in shapes:
            raise DatasetError("{} has no array {!r} ({} {}); it holds {}".format(
                path, key, option, key, ", ".join(sorted(shapes)) or "nothing"))
        return key
    for name in candidates:
        if name in shapes and test(shapes[name]):
            return name
    fitting = [name for name in sorted(shapes) if test(shapes[name])]
    return fitting[0] if len(fitting) == 1 else None


def _npz_source(path, array_key, label_key):
    shapes = _npz_shapes(path)
    key = _pick(shapes, array_key, ARRAY_KEYS, "--array-key", path,
                lambda shape: len(shape) in (3, 4))
    if key is None:
        raise DatasetError("cannot tell which array of {} holds the images ({}); name it with "
                           "--array-key".format(path, ", ".join(
                               "{} {}".format(k, s) for k, s in sorted(shapes.items()))))
    item_shape = _check_images_shape(shapes[key], "{}[{}]".format(path, key))
    n = shapes[key][0]
    label_name = _pick(shapes, label_key, LABEL_KEYS, "--label-key", path,
                       lambda shape: shape == (n,))
    labels = np.full(n, -1)
    if label_name is not None:
        if shapes[label_name] != (n,):
            raise DatasetError("{}[{}] has shape {}; labels must be one int per image, ({},)"
                               .format(path, label_name, shapes[label_name], n))
        with np.load(path) as arrays:
            raw = arrays[label_name]
        if raw.dtype.kind not in "iub" and not np.all(np.equal(np.mod(raw, 1), 0)):
            raise DatasetError("{}[{}] holds non-integer labels".format(path, label_name))
        labels = raw.astype(np.int64)
    return Source("array", path, [str(i) for i in range(n)], labels, (), array_key=key,
                  label_key=label_name, item_shape=item_shape, has_labels=label_name is not None)


def parse_targets(rule):
    """Checks a targets rule: ``"label"``, ``"predicted"`` or a class index (int or digits).

    Returns:
        str: ``"label"``, ``"predicted"`` or the index as a string, e.g. ``"3"``.
    """
    if isinstance(rule, bool):
        rule = str(rule)
    if isinstance(rule, (int, np.integer)):
        rule = str(int(rule))
    text = str(rule).strip().lower()
    if text in ("label", "predicted") or (text.isdigit()):
        return str(int(text)) if text.isdigit() else text
    raise DatasetError("targets {!r} is invalid: use 'label' (the class folder or the .npz "
                       "labels), 'predicted' (the model's top class) or a class index >= 0"
                       .format(rule))


def parse_size(size):
    """Parses a resize setting: None, an int, ``"256"``, ``"256x320"`` or a pair.

    Returns:
        tuple: ``(height, width)``, or None.
    """
    if size is None:
        return None
    try:
        if isinstance(size, str):
            parts = [int(part) for part in size.lower().split("x")]
        elif isinstance(size, (int, np.integer)):
            parts = [int(size)]
        else:
            parts = [int(part) for part in size]
    except (TypeError, ValueError):
        parts = []
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) < 1:
        raise DatasetError("resize {!r} is invalid: give one size (e.g. 256) or HEIGHTxWIDTH "
                           "(e.g. 256x320)".format(size))
    return tuple(parts)


_ARRAYS = {}


def _array(file, array_key):
    """The image array of a file, opened once per process (.npy memory-mapped)."""
    cache_key = (file, array_key)
    if cache_key not in _ARRAYS:
        _ARRAYS.clear()
        if array_key is None:
            _ARRAYS[cache_key] = np.load(file, mmap_mode="r")
        else:
            with np.load(file) as arrays:
                _ARRAYS[cache_key] = arrays[array_key]
    return _ARRAYS[cache_key]


def read_item(item, input_shape, resize=None):
    """Reads an item's pixels as float32 ``(height, width, channels)`` (not preprocessed).

    Args:
        item (Item): what to read.
        input_shape (tuple): the model's ``(height, width, channels)``.
        resize (tuple): images are resized to ``(height, width)`` and then centre-cropped to
            the model's size; None resizes them to the model's size directly. Arrays are
            never resized.

    Raises:
        FileNotFoundError, ValueError: the item cannot be read or does not fit the model.
    """
    height, width, channels = input_shape
    if item.row is None:
        size = resize or (height, width)
        image = load_image(item.file, size, grayscale=channels == 1)
        top, left = (size[0] - height) // 2, (size[1] - width) // 2
        return image[top:top + height, left:left + width]
    image = np.asarray(_array(item.file, item.array_key)[item.row], dtype=np.float32)
    if image.ndim == 2:
        image = image[..., None]
    if image.shape != (height, width, channels):
        raise ValueError("array item {} has shape {}, the model expects {}".format(
            item.row, image.shape, (height, width, channels)))
    return image
