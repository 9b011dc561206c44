"""Demo and evaluation material, apart from the core: offline data, the demo, ImageNet helpers.

Nothing here downloads anything, and the core of :mod:`iba_tf` imports nothing from here.

- :mod:`.data`: real MNIST digits, faces and photographs that ship with installed packages, and
  the pretrained emotion model of ``fer``.
- :mod:`.mnist_cnn`: a small MNIST CNN with a logits output, trained in seconds, repeatably.
- :mod:`.imagenet`: ImageNet class names and labelled photos from installed packages, and
  ``keras.applications`` models with weights from a local file.
- :mod:`.demo`: the demo (``python -m iba_tf.examples.demo``, ``make demo``).

Example:
    >>> from iba_tf.examples.data import load_mnist
    >>> from iba_tf.examples.mnist_cnn import train_mnist_cnn
    >>> from iba_tf.examples.imagenet import imagenet_photos
"""
