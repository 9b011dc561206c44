"""A small CNN with a logits output for MNIST digits, trained in seconds, repeatably.

:func:`build_mnist_cnn` builds it (optionally with an ``IBALayer`` inside);
:func:`train_mnist_cnn` trains it on digits such as those of
:func:`iba_tf.examples.data.load_mnist`. The TensorFlow / Keras imports happen inside the
functions, so importing this module stays cheap.

Example:
    >>> from iba_tf.examples.data import load_mnist
    >>> from iba_tf.examples.mnist_cnn import train_mnist_cnn
    >>> x_train, y_train, x_test, y_test = load_mnist()
    >>> model = train_mnist_cnn(x_train, y_train)          # logits, ~95% test accuracy
"""
import numpy as np

__all__ = ["build_mnist_cnn", "train_mnist_cnn"]


def build_mnist_cnn(with_iba=False, input_shape=(28, 28, 1), classes=10, seed=0):
    """Returns the untrained CNN of :func:`train_mnist_cnn` (logits output).

    ``conv1`` (16 x 3x3, 28x28) -> ``conv2`` (32 x 3x3, stride 2, 14x14) [-> ``IBALayer``
    named ``iba``] -> ``conv3`` (32 x 3x3, stride 2, 7x7) -> ``flatten`` -> ``dense``
    (64, ReLU) -> ``logits`` (10, linear). Every layer is named. The kernels are drawn with
    Glorot-uniform initialisers seeded from ``seed`` (one seed per layer), so the initial
    weights do not depend on what else the graph holds.
    """
    from ..tensorflow_v1.compat import keras

    def init(i):
        return keras.initializers.glorot_uniform(seed=seed * 100 + i)

    layers = [
        keras.layers.Conv2D(16, 3, padding="same", activation="relu", input_shape=input_shape,
                            kernel_initializer=init(1), name="conv1"),
        keras.layers.Conv2D(32, 3, padding="same", strides=2, activation="relu",
                            kernel_initializer=init(2), name="conv2"),
    ]
    if with_iba:
        from ..tensorflow_v1.layer import IBALayer
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
    default 5 epochs on the 4000 training digits of :func:`~iba_tf.examples.data.load_mnist`
    it trains in about 5 s on 2 CPU cores and reaches about 95% on the 1000 test digits
    (8 epochs: 96%).

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
        >>> x_train, y_train, x_test, y_test = iba_tf.examples.data.load_mnist()
        >>> model = train_mnist_cnn(x_train, y_train, with_iba=True)
        >>> iba = model.get_layer("iba")
    """
    x, y = _checked_training_data(x, y, epochs)
    cnn = dict(with_iba=with_iba, input_shape=x.shape[1:], classes=max(int(y.max()) + 1, 2),
               seed=seed)
    if not deterministic:
        model = _compiled_cnn(**cnn)
        _fit_in_seeded_order(model, x, y, epochs, seed, batch_size, verbose)
        return model
    weights = _weights_trained_single_threaded(x, y, epochs, batch_size, verbose, cnn)
    model = _compiled_cnn(**cnn)
    model.set_weights(weights)
    return model


def _checked_training_data(x, y, epochs):
    x = np.asarray(x, np.float32)
    y = np.asarray(y)
    if x.ndim != 4 or len(x) != len(y):
        raise ValueError("x must be images (n, h, w, c) with one label in y each; got x {} and "
                         "y {}.".format(x.shape, y.shape))
    if not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError("epochs must be an int >= 1, got {!r}.".format(epochs))
    return x, y


def _compiled_cnn(with_iba, input_shape, classes, seed):
    """:func:`build_mnist_cnn` in the current graph, seeded and compiled for training."""
    from ..tensorflow_v1.compat import keras, tf
    tf.set_random_seed(seed)
    model = build_mnist_cnn(with_iba=with_iba, input_shape=input_shape, classes=classes,
                            seed=seed)
    # Keras 2.14 trains graph-mode models only with its legacy optimizers
    adam = getattr(keras.optimizers, "legacy", keras.optimizers).Adam
    model.compile(adam(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def _fit_in_seeded_order(model, x, y, epochs, seed, batch_size, verbose):
    # the order of the mini-batches: drawn here, Keras' shuffle off
    rng = np.random.RandomState(seed)
    for _ in range(epochs):
        order = rng.permutation(len(x))
        model.fit(x[order], y[order], epochs=1, batch_size=batch_size, shuffle=False,
                  verbose=verbose)


def _weights_trained_single_threaded(x, y, epochs, batch_size, verbose, cnn):
    """Trains :func:`_compiled_cnn` in a private graph and session; returns its weights."""
    from ..tensorflow_v1.compat import tf
    graph = tf.Graph()
    # Per-session threads: otherwise a session created earlier in the process (e.g. Keras')
    # fixes the size of the shared thread pools and the sums are no longer repeatable.
    config = tf.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1,
                            use_per_session_threads=True)
    # entering the session makes it the default one, which Keras then uses
    with graph.as_default(), tf.Session(graph=graph, config=config):
        model = _compiled_cnn(**cnn)
        _fit_in_seeded_order(model, x, y, epochs, cnn["seed"], batch_size, verbose)
        return model.get_weights()
