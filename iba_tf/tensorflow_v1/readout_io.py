"""The file of a trained IBAReadout: statistics, hyperparameters and weights in one ``.npz``.

Keys: ``config`` (JSON: layers, tensor names and shapes, hyperparameters, the model's
architecture and a fingerprint of its weights), ``estimator/<i>/<n|mean|m2|nonzero>`` per
needed tensor (``config["tensors"]`` in order) and ``weight/<i>`` for the readout network.
"""
import json
import os
import tempfile

import numpy as np

__all__ = ["save", "read", "restore", "check_layers", "to_arrays", "from_arrays", "FORMAT"]

FORMAT = "iba_tf.readout/1"
ESTIMATOR_KEYS = ("n", "mean", "m2", "nonzero")


def architecture(model):
    """``[class, output shape]`` of every layer: what must match to load a readout.

    Names are left out (Keras numbers unnamed layers per process); the attach and readout
    layers are checked by name on their own.
    """
    return [[type(layer).__name__, str(layer.output_shape)] for layer in model.layers]


def fingerprint(model):
    """One float64 sum per weight array of the model (tells models of one architecture apart)."""
    return [float(np.sum(w, dtype=np.float64)) for w in model.get_weights()]


def to_arrays(readout):
    """The readout's state as a dict of numpy arrays (the keys of the ``.npz`` file)."""
    if readout.steps_trained == 0:
        raise RuntimeError("The readout network is not trained: train(...) it before save.")
    names = readout._tensor_names()
    config = dict(format=FORMAT, attach_layer=readout.attach_layer,
                  readout_layers=readout.readout_layers, tensors=names,
                  feature_shape=list(readout.feature_shape), settings=readout.get_settings(),
                  seed=readout.seed, steps_trained=readout.steps_trained,
                  architecture=architecture(readout.model),
                  fingerprint=fingerprint(readout.model))
    arrays = {"config": np.array(json.dumps(config))}
    for index, name in enumerate(names):
        state = readout._estimators[name].state_dict()
        if not state["n"]:
            raise RuntimeError("The statistics of {} are empty: estimate(data) before save."
                               .format(name))
        for key in ESTIMATOR_KEYS:
            arrays["estimator/{}/{}".format(index, key)] = np.asarray(state[key])
    for index, weight in enumerate(readout.get_weights()):
        arrays["weight/{}".format(index)] = weight
    return arrays


def save(readout, path):
    """Writes ``readout`` to ``path`` atomically (a temporary file moved into place)."""
    arrays = to_arrays(readout)
    path = os.fspath(path)
    if not path.endswith(".npz"):
        raise ValueError("The readout file must end in .npz, got {!r}.".format(path))
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(suffix=".npz", dir=folder)
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def read(path):
    """Reads a readout file; returns ``{"config", "estimators", "weights", "path"}``."""
    try:
        with np.load(os.fspath(path), allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as error:
        raise ValueError("{} is not a readout file written by IBAReadout.save ({})."
                         .format(path, error)) from None
    return from_arrays(arrays, os.fspath(path))


def from_arrays(arrays, path="the readout state"):
    """Parses :func:`to_arrays`' dict; returns what :func:`read` returns."""
    try:
        config = json.loads(str(arrays["config"]))
    except (ValueError, KeyError) as error:
        raise ValueError("{} is not a readout written by IBAReadout.save ({})."
                         .format(path, error)) from None
    if config.get("format") != FORMAT:
        raise ValueError("{} has format {!r}; this version reads {!r}.".format(
            path, config.get("format"), FORMAT))
    estimators = [{key: arrays["estimator/{}/{}".format(i, key)] for key in ESTIMATOR_KEYS}
                  for i in range(len(config["tensors"]))]
    for state in estimators:
        state["n"] = int(state["n"])
    weights = [arrays["weight/{}".format(i)] for i in range(6)]
    return dict(config=config, estimators=estimators, weights=weights, path=path)


def check_layers(model, config, path):
    """Raises ValueError if the file was saved for a model of another architecture."""
    saved, current = config["architecture"], architecture(model)
    if saved != current:
        index = next((i for i, (s, c) in enumerate(zip(saved, current)) if s != c), None)
        where = ("layer {}: saved {} vs {}".format(index, saved[index], current[index])
                 if index is not None else
                 "{} saved layers vs {}".format(len(saved), len(current)))
        raise ValueError("{} was saved for another model ({}); load it onto the model it was "
                         "trained for.".format(path, where))
    names = [layer.name for layer in model.layers]
    missing = [name for name in [config["attach_layer"]] + config["readout_layers"]
               if name not in names]
    if missing:
        raise ValueError("{} was saved for another model: this one lacks the layer(s) {}."
                         .format(path, missing))
    if not np.allclose(config["fingerprint"], fingerprint(model), rtol=1e-6, atol=1e-6):
        raise ValueError("{} was saved for a model of the same architecture but other weights; "
                         "load it onto the model it was trained for.".format(path))


def restore(readout, saved):
    """Loads ``saved`` (from :func:`read`) into ``readout``; changes nothing unless all fits."""
    config, path = saved["config"], saved["path"]
    check_layers(readout.model, config, path)
    mine = dict(attach_layer=readout.attach_layer, readout_layers=readout.readout_layers)
    theirs = dict(attach_layer=config["attach_layer"],
                  readout_layers=config["readout_layers"])
    if mine != theirs:
        raise ValueError("{} holds a readout for {}, but this readout is for {}; create it with "
                         "IBAReadout.load(path, model).".format(path, theirs, mine))
    names = readout._tensor_names()
    for name, state in zip(names, saved["estimators"]):
        graph = readout.model.input.graph
        expected = tuple(graph.get_tensor_by_name(name).shape[1:].as_list())
        if tuple(np.shape(state["mean"])) != expected:
            raise ValueError("{}: the statistics of {} have shape {}, expected {}.".format(
                path, name, np.shape(state["mean"]), expected))
    readout.set_weights(saved["weights"])   # checks the shapes before assigning
    for name, state in zip(names, saved["estimators"]):
        readout._estimators[name].load_state_dict(state)
    readout._settings = dict(config["settings"])
    readout._configured = False
    readout.steps_trained = int(config["steps_trained"])
