"""Explaining a whole data set, resumably, on Dask workers (``iba-tf explain-dataset``).

:func:`explain_dataset` explains every image of a folder (one sub-folder per class) or of an
.npy/.npz file with a saved Keras model and writes the maps and per-item metadata into one
HDF5 file (layout: ``iba_tf.dataset.store``, docs/dataset.md); :func:`read_results` reads
it back. Dask is optional (``pip install "iba-tf[dask]"``) and imported only when a run uses
it; importing this package loads neither Dask nor TensorFlow.

Example:
    >>> from iba_tf.dataset import explain_dataset, read_results
    >>> explain_dataset("vgg16.h5", "/data/imagenet/val", "val_iba.h5", targets="label",
    ...                 preprocess="caffe", resize=256)
    >>> results = read_results("val_iba.h5")
"""
from .errors import DatasetError, MissingDaskError
from .runner import RunSummary, explain_dataset
from .store import LAYOUT, read_results

__all__ = ["explain_dataset", "read_results", "RunSummary", "DatasetError", "MissingDaskError",
           "LAYOUT"]
