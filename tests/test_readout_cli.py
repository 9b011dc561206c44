"""The Readout Bottleneck on the command line: train-readout, explain / explain-dataset
--readout, and their bad input (one line, exit code 2, nothing written)."""
import os

import keras
import numpy as np
import pytest
from PIL import Image

from conftest import save_tiny_cnn
from iba_tf import cli
from iba_tf.dataset import read_results
from iba_tf.dataset.batches import ItemBatches, split
from iba_tf.dataset.sources import open_source
from iba_tf.dataset.store import DONE

TRAIN = ["--layer", "conv2", "--readout-layers", "conv1,conv2,out", "--epochs", "2",
         "--batch-size", "8", "--fit-samples", "24", "--no-progress"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny softmax CNN (16x16x3, 3 classes), 24 labelled arrays, two PNGs of the first two
    arrays, and a readout trained on the arrays by the command."""
    root = tmp_path_factory.mktemp("readout_cli")
    rng = np.random.RandomState(0)
    model = save_tiny_cnn(str(root / "tiny.h5"), size=16, classes=3)
    x = (rng.rand(24, 16, 16, 3) * 255).astype(np.uint8)
    np.savez(str(root / "arrays.npz"), x=x, y=np.arange(24) % 3)
    images = []
    for i in range(2):
        images.append(str(root / "image{}.png".format(i)))
        Image.fromarray(x[i]).save(images[-1])
    readout = str(root / "readout.npz")
    keras.backend.clear_session()
    assert cli.main(["train-readout", model, str(root / "arrays.npz"), "--out", readout,
                     "--validation-split", "0.25"] + TRAIN) == 0
    keras.backend.clear_session()
    return dict(root=root, model=model, arrays=str(root / "arrays.npz"), x=x,
                images=images, readout=readout)


def _reference_maps(trained, x):
    """The maps of the saved readout, loaded in Python onto the model's logits."""
    from iba_tf.tensorflow_v1.model_analyzer import logits_of
    from iba_tf.tensorflow_v1.models import load_keras_model
    from iba_tf.tensorflow_v1.readout import IBAReadout
    keras.backend.clear_session()
    logits, _ = logits_of(load_keras_model(trained["model"]))
    readout = IBAReadout.load(trained["readout"], logits)
    assert readout.attach_layer == "conv2"
    assert readout.readout_layers == ["conv1", "conv2", "out_logits"]   # "out": its logits
    maps = readout.analyze(np.asarray(x, np.float32) / 255.)
    keras.backend.clear_session()
    return maps


def test_train_readout_saves_a_readout_that_explain_uses(trained, capsys):
    out = str(trained["root"] / "maps")
    assert cli.main(["explain", trained["model"]] + trained["images"] +
                    ["--readout", trained["readout"], "--out", out]) == 0
    printed = capsys.readouterr().out
    assert printed.count("explained") == 2
    expected = _reference_maps(trained, trained["x"][:2])
    for i in range(2):
        saliency = np.load(os.path.join(out, "image{}_iba.npy".format(i)))
        assert saliency.shape == (16, 16) and saliency.sum() > 0
        np.testing.assert_allclose(saliency, expected[i], rtol=1e-4, atol=1e-4)


def test_explain_dataset_with_a_readout_and_its_resume_settings(trained, capsys):
    out = str(trained["root"] / "dataset.h5")
    common = ["explain-dataset", trained["model"], trained["arrays"], "--out", out,
              "--workers", "0", "--no-progress", "--chunk-size", "8"]
    assert cli.main(common + ["--readout", trained["readout"]]) == 0
    assert "Estimating the feature statistics" not in capsys.readouterr().out
    results = read_results(out)
    assert results["attrs"]["readout"] == os.path.abspath(trained["readout"])
    assert (results["status"] == DONE).all()
    np.testing.assert_allclose(results["saliency"], _reference_maps(trained, trained["x"]),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(results["target"], results["predicted"])
    # a rerun without the readout, or with another readout file, is refused
    other = str(trained["root"] / "other.npz")
    with open(trained["readout"], "rb") as source, open(other, "wb") as copy:
        copy.write(source.read() + b"\0")   # another file (hash), same content for numpy
    for extra in ([], ["--readout", other]):
        capsys.readouterr()
        assert cli.main(common + extra) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and "another --readout" in error


def _error(argv, capsys):
    keras.backend.clear_session()
    code = cli.main(argv)
    error = capsys.readouterr().err
    assert code == 2 and error.count("\n") == 1, error
    return error


def test_bad_input_is_one_line_with_exit_code_2_and_writes_nothing(trained, tmp_path, capsys):
    model, arrays, readout = trained["model"], trained["arrays"], trained["readout"]
    never = str(tmp_path / "never.npz")
    flatten = keras.models.load_model(model).layers[2].name
    for extra, message in [
            (["--readout-layers", "conv1,nope"], "unknown layer 'nope'"),
            (["--layer", "nope"], "unknown layer 'nope'"),
            (["--layer", flatten], "needs a feature map"),
            (["--epochs", "0"], "--epochs 0 is invalid"),
            (["--validation-split", "1.5"], "--validation-split 1.5 is invalid")]:
        assert message in _error(["train-readout", model, arrays, "--out", never] + TRAIN +
                                 extra, capsys)
    assert "not found" in _error(["train-readout", model, str(tmp_path / "none"), "--out",
                                  never], capsys)
    assert not os.path.exists(never)
    image = trained["images"][0]
    for extra, message in [
            (["--readout", never], "readout file not found"),
            (["--readout", readout, "--layer", "conv1"], "does not fit the readout"),
            (["--readout", readout, "--target", "1"], "--target does not go with --readout")]:
        assert message in _error(["explain", model, image, "--out", str(tmp_path / "o")] +
                                 extra, capsys)
    assert not os.path.exists(str(tmp_path / "o"))
    never_h5 = str(tmp_path / "never.h5")
    for extra, message in [
            (["--readout", never], "readout file not found"),
            (["--readout", readout, "--targets", "label"], "--targets label does not go")]:
        assert message in _error(["explain-dataset", model, arrays, "--out", never_h5,
                                  "--workers", "0"] + extra, capsys)
    assert not os.path.exists(never_h5)


def test_a_readout_for_another_model_is_refused(trained, tmp_path, capsys):
    keras.backend.clear_session()
    other = save_tiny_cnn(str(tmp_path / "other.h5"), size=16, classes=3)
    # Keras draws its initialisers' seeds from numpy's global RNG, which conftest seeds at
    # each test but the module fixture may build its model from the same state: make sure
    # the weights differ
    different = keras.models.load_model(other)
    different.set_weights([w + 0.5 for w in different.get_weights()])
    different.save(other)
    keras.backend.clear_session()
    error = _error(["explain", other, trained["images"][0], "--readout", trained["readout"],
                    "--out", str(tmp_path / "o")], capsys)
    assert "other weights" in error
    keras.backend.clear_session()
    wider = save_tiny_cnn(str(tmp_path / "wider.h5"), size=16, classes=4)
    assert "saved for another model" in _error(
        ["explain-dataset", wider, trained["arrays"], "--readout", trained["readout"],
         "--out", str(tmp_path / "o.h5"), "--workers", "0"], capsys)
    assert not os.path.exists(str(tmp_path / "o.h5"))


def test_item_batches_skip_unreadable_items_and_split_the_data(tmp_path):
    folder = tmp_path / "images"
    for name in ("a", "b"):
        (folder / name).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(
                str(folder / name / "{}.png".format(i)))
    (folder / "b" / "broken.png").write_bytes(b"no image")
    source = open_source(str(folder))
    batches = ItemBatches(source, range(len(source)), (8, 8, 3), None, "unit", 4, True)
    parts = list(batches)
    assert len(batches) == len(parts) == 2
    x = np.concatenate([part[0] for part in parts])
    labels = np.concatenate([part[1] for part in parts])
    assert x.shape == (6, 8, 8, 3) and x.max() <= 1 and sorted(labels) == [0, 0, 0, 1, 1, 1]
    assert batches.unreadable == {"b/broken.png"}
    train, validation, estimate = split(source, (8, 8, 3), None, "unit", 2, False, 0.25, 3, 0)
    assert (train.n_items, validation.n_items, estimate.n_items) == (5, 2, 3)
    assert not set(train.indices) & set(validation.indices)
    assert set(estimate.indices) <= set(train.indices)
    assert isinstance(train[0], np.ndarray)   # without labels: inputs only
