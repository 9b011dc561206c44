"""The command line and explain-dataset under bad input (issue 15): never a silent wrong result,
never lost work, one line on stderr with exit code 2, before any work.

The two-process tests of concurrent runs on one result file are in test_concurrency.py.
"""
import os
import struct
import subprocess
import sys
import zlib

import keras
import numpy as np
import pytest
from PIL import Image

from conftest import save_tiny_cnn
from iba_tf import cli
from iba_tf.dataset import explain_dataset, read_results
from iba_tf.dataset.store import DONE, FAILED, Store
from iba_tf.tensorflow_v1.model_analyzer import ModelAnalyzer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = ["--steps", "1", "--batch-size", "2"]
DATASET = ["--workers", "0", "--steps", "1", "--batch-size", "2", "--fit-samples", "4",
           "--no-progress"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A saved 16x16 RGB CNN with a softmax (3 classes), three PNGs and an .npy of 6 images."""
    root = tmp_path_factory.mktemp("cli_bad_input")
    rng = np.random.RandomState(0)
    model = save_tiny_cnn(str(root / "tiny.h5"), size=16, classes=3)
    keras.backend.clear_session()
    images = []
    for name in ("a/cat.png", "b/dog.png", "img0.png"):
        path = root / name
        path.parent.mkdir(exist_ok=True)
        Image.fromarray((rng.rand(16, 16, 3) * 255).astype(np.uint8)).save(str(path))
        images.append(str(path))
    arrays = str(root / "arrays.npy")
    np.save(arrays, (rng.rand(6, 16, 16, 3) * 255).astype(np.uint8))
    return dict(root=root, model=model, images=images, arrays=arrays)


def _error(argv, capsys):
    """Runs the command; asserts exit code 2 and one line on stderr; returns the line."""
    keras.backend.clear_session()
    code = cli.main(argv)
    error = capsys.readouterr().err
    assert code == cli.EXIT_BAD_INPUT and error.count("\n") == 1, error
    assert error.startswith("iba-tf: error: ")
    return error


def _env():
    """The environment of a subprocess that imports this tree's iba_tf."""
    paths = [ROOT] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths))


# ---------------------------------------------------------------- duplicate output names
def test_images_with_the_same_output_name_are_refused_before_any_work(files, tmp_path, capsys):
    root = files["root"]
    same_name = str(root / "b" / "cat.png")
    Image.open(files["images"][0]).save(same_name)
    jpeg = str(root / "img0.jpg")
    Image.open(files["images"][2]).save(jpeg)
    out = str(tmp_path / "out")
    error = _error(["explain", files["model"], files["images"][0], same_name,
                    files["images"][2], jpeg, "--out", out] + FAST, capsys)
    assert "a/cat.png and {} would both be saved as {}".format(
        same_name, os.path.join(out, "cat")) in error
    assert not os.path.exists(out)          # refused before the folder or a map was made
    error = _error(["explain", files["model"], files["images"][2], jpeg, "--out", out], capsys)
    assert "img0.png and {} would both be saved".format(jpeg) in error
    error = _error(["explain", files["model"], jpeg, jpeg, "--out", out], capsys)
    assert "would both be saved" in error and not os.path.exists(out)


# ---------------------------------------------------------------- --out checked first
def test_an_out_that_is_a_file_or_cannot_be_made_is_refused_first(files, tmp_path, capsys):
    a_file = str(tmp_path / "notes.txt")
    with open(a_file, "w") as f:
        f.write("not a folder")
    missing_model = str(tmp_path / "missing.h5")     # the --out check comes before the model
    error = _error(["explain", missing_model, files["images"][0], "--out", a_file], capsys)
    assert "--out {} is a file; give a folder".format(a_file) in error
    under_a_file = os.path.join(a_file, "maps")
    error = _error(["explain", missing_model, files["images"][0], "--out", under_a_file],
                   capsys)
    assert "--out {} cannot be created: {} is a file".format(under_a_file, a_file) in error
    folder = str(tmp_path / "a_folder.h5")
    os.mkdir(folder)
    error = _error(["explain-dataset", files["model"], files["arrays"], "--out", folder] +
                   DATASET, capsys)
    assert "--out {} is a folder".format(folder) in error
    no_folder = str(tmp_path / "missing" / "run.h5")
    error = _error(["explain-dataset", files["model"], files["arrays"], "--out", no_folder] +
                   DATASET, capsys)
    assert "cannot create {}.lock".format(no_folder) in error and "folder exists" in error
    readout = str(tmp_path / "readout.npz")
    os.mkdir(readout)
    error = _error(["train-readout", files["model"], files["arrays"], "--out", readout],
                   capsys)
    assert "--out {} is a folder".format(readout) in error


# ---------------------------------------------------------------- non-finite hyperparameters
@pytest.mark.parametrize("option, value", [("--smooth-std", "inf"), ("--beta", "nan"),
                                           ("--learning-rate", "inf"), ("--min-std", "inf")])
def test_non_finite_hyperparameters_are_refused_by_every_command(files, tmp_path, capsys,
                                                                 option, value):
    name = option.lstrip("-").replace("-", "_")
    expected = "{}={} is invalid: it must be a finite number".format(name, value)
    missing = str(tmp_path / "missing.h5")      # checked before the model is even looked at
    for argv in (["explain", missing, files["images"][0], "--out", str(tmp_path / "o")],
                 ["explain-dataset", missing, files["arrays"], "--out",
                  str(tmp_path / "o.h5"), "--workers", "0"],
                 ["train-readout", missing, str(tmp_path / "no_data"), "--out",
                  str(tmp_path / "r.npz")]):
        assert expected in _error(argv + [option, value], capsys)
    assert not os.listdir(str(tmp_path))


# ---------------------------------------------------------------- the input stage's options
def _commands(tmp_path, files):
    """explain and explain-dataset with a missing model: a refusal comes before it is read."""
    missing = str(tmp_path / "missing.h5")
    return (["explain", missing, files["images"][0], "--out", str(tmp_path / "o")],
            ["explain-dataset", missing, files["arrays"], "--out", str(tmp_path / "o.h5"),
             "--workers", "0"])


@pytest.mark.parametrize("option, value, expected", [
    ("--input-beta", "nan", "--input-beta=nan is invalid: it must be a finite number >= 0"),
    ("--input-smooth-std", "inf", "--input-smooth-std=inf is invalid: it must be a finite "
     "number >= 0 (0 disables smoothing)"),
    ("--input-learning-rate", "-1", "--input-lr=-1.0 is invalid: it must be a finite number"),
    ("--input-min-std", "0", "--input-min-std=0.0 is invalid: it must be a finite number > 0"),
    ("--input-steps", "-1", "--input-steps=-1 is invalid: it must be an int >= 0"),
    ("--input-batch-size", "0", "--input-batch-size=0 is invalid: it must be an int >= 1"),
    ("--prior-scale", "1.5", "--prior-scale=1.5 is invalid: it must be a number in [0, 1]"),
    ("--prior-scale", "nan", "--prior-scale=nan is invalid: it must be a number in [0, 1]")])
def test_bad_input_stage_options_are_refused_by_both_commands(files, tmp_path, capsys, option,
                                                               value, expected):
    for argv in _commands(tmp_path, files):
        assert expected in _error(argv + ["--input-resolution", option, value], capsys)
    assert not os.listdir(str(tmp_path))


def test_input_stage_options_without_input_resolution_are_refused(files, tmp_path, capsys):
    for argv in _commands(tmp_path, files):
        error = _error(argv + ["--input-steps", "3"], capsys)
        assert "--input-steps sets InputIBA's input stage: add --input-resolution, or drop " \
            "it" in error
        error = _error(argv + ["--input-no-normalize-beta", "--prior-scale", "0.5"], capsys)
        assert "--input-no-normalize-beta, --prior-scale set InputIBA's input stage" in error
        assert "drop them" in error
    assert not os.listdir(str(tmp_path))


GAN = ["--input-resolution", "--input-prior", "gan"]


@pytest.mark.parametrize("option, value, expected", [
    ("--gan-iterations", "-1", "--gan-iterations=-1 is invalid: it must be an int >= 0"),
    ("--gan-critic-steps", "0", "--gan-critic-steps=0 is invalid: it must be an int >= 1"),
    ("--gan-batch-size", "0", "--gan-batch-size=0 is invalid: it must be an int >= 1"),
    ("--gan-lr", "0", "--gan-lr=0.0 is invalid: it must be a finite number > 0"),
    ("--gan-lr", "nan", "--gan-lr=nan is invalid: it must be a finite number > 0"),
    ("--gan-mask-lr", "-1", "--gan-mask-lr=-1.0 is invalid: it must be a finite number >= 0"),
    ("--gan-noise-lr", "inf", "--gan-noise-lr=inf is invalid: it must be a finite number"),
    ("--gan-clip", "0", "--gan-clip=0.0 is invalid: it must be a finite number > 0")])
def test_bad_gan_options_are_refused_by_both_commands(files, tmp_path, capsys, option, value,
                                                      expected):
    for argv in _commands(tmp_path, files):
        assert expected in _error(argv + GAN + [option, value], capsys)
    assert not os.listdir(str(tmp_path))


def test_gan_options_without_the_gan_prior_are_refused(files, tmp_path, capsys):
    for argv in _commands(tmp_path, files):
        error = _error(argv + ["--input-resolution", "--gan-iterations", "3"], capsys)
        assert "--gan-iterations sets the GAN prior of InputIBA's input stage: add " \
            "--input-prior gan, or drop it" in error
        error = _error(argv + ["--input-resolution", "--input-prior", "feature", "--gan-lr",
                               "1e-3", "--gan-clip", "1"], capsys)
        assert "--gan-lr, --gan-clip set the GAN prior" in error and "drop them" in error
        error = _error(argv + ["--gan-critic-steps", "2"], capsys)      # neither is given
        assert "add --input-resolution --input-prior gan, or drop it" in error
        error = _error(argv + ["--input-prior", "gan", "--gan-clip", "1"], capsys)
        assert "--input-prior sets InputIBA's input stage: add --input-resolution" in error
    assert not os.listdir(str(tmp_path))


# ---------------------------------------------------------------- an image bomb
def _png_header(path, width, height):
    """A PNG whose header declares ``width x height`` RGB pixels (a few bytes of data)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xffffffff)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height,
                                                                   8, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


def test_an_image_that_declares_30000x30000_pixels_is_one_line(files, tmp_path, capsys):
    bomb = _png_header(str(tmp_path / "bomb.png"), 30000, 30000)
    out = str(tmp_path / "out")
    error = _error(["explain", files["model"], bomb, "--out", out], capsys)
    assert "cannot read image {}".format(bomb) in error and "900000000 pixels" in error
    # the console command: no DecompressionBombError traceback, exit code 2
    result = subprocess.run([sys.executable, "-m", "iba_tf.cli", "explain", files["model"],
                             bomb, "--out", out], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_env(), timeout=300)
    lines = result.stderr.decode().strip().splitlines()
    assert result.returncode == 2 and "Traceback" not in result.stderr.decode(), lines
    assert lines[-1].startswith("iba-tf: error: cannot read image {}".format(bomb))
    assert [line for line in lines if line.startswith("iba-tf")] == lines[-1:]
    assert not os.path.exists(out)


# ---------------------------------------------------------------- non-finite maps
def _state():
    return {"estimator": {"n": 0, "mean": None, "m2": None, "nonzero": None},
            "feature_mean": None, "feature_std": None, "feature_active": None,
            "defaults": {"beta": 10.}}


def test_the_store_marks_a_non_finite_map_failed_with_the_reason(tmp_path):
    path = str(tmp_path / "store.h5")
    Store.create(path, {"model": "m.h5"}, ["a", "b", "c"], np.full(3, -1), (2, 2), _state())
    maps = np.ones((3, 2, 2), np.float32)
    maps[1, 0, 0] = np.nan
    with Store.open(path) as store:
        failed = store.write({"index": np.arange(3), "saliency": maps,
                              "target": np.zeros(3), "predicted": np.zeros(3),
                              "bits": np.array([4., np.nan, np.inf]), "seconds": np.ones(3),
                              "error": [""] * 3})
    assert failed == 2
    results = read_results(path)
    np.testing.assert_array_equal(results["status"], [DONE, FAILED, FAILED])
    assert "non-finite values (1 NaN and 0 inf)" in results["error"][1]
    assert "smaller --beta or --learning-rate" in results["error"][2]
    assert np.isnan(results["saliency"][1:]).all() and (results["saliency"][0] == 1).all()


def _nan_maps_for(monkeypatch, bad_keys):
    """Makes the analyzer return NaN maps for the items ``bad_keys`` (all: None)."""
    original = ModelAnalyzer.explain

    def explain(self, x, targets=None, keys=None):
        maps, targets, predicted = original(self, x, targets, keys)
        for i, key in enumerate(keys):
            if bad_keys is None or key in bad_keys:
                maps[i] = np.nan
        return maps, targets, predicted
    monkeypatch.setattr(ModelAnalyzer, "explain", explain)


def test_explain_dataset_stores_nan_maps_as_failed_items_and_reports_them(
        files, tmp_path, monkeypatch, capsys):
    _nan_maps_for(monkeypatch, {"2"})
    out = str(tmp_path / "nan.h5")
    summary = explain_dataset(files["model"], files["arrays"], out, workers=0, steps=1,
                              fit_samples=4, progress=False)
    assert (summary.done, summary.failed, summary.failed_now) == (5, 1, 1)
    assert "1 failed in this run" in capsys.readouterr().out
    results = read_results(out)
    assert results["status"][2] == FAILED and "non-finite values (256 NaN" in results["error"][2]
    assert np.isfinite(results["saliency"][results["status"] == DONE]).all()
    # every item failed: the command does not exit 0
    _nan_maps_for(monkeypatch, None)
    error = _error(["explain-dataset", files["model"], files["arrays"], "--out",
                    str(tmp_path / "all.h5")] + DATASET, capsys)
    assert "all 6 items failed" in error and "non-finite values" in error


def test_an_analysis_that_closes_the_bottleneck_is_one_line_not_a_zero_map(files, tmp_path,
                                                                            capsys):
    out = str(tmp_path / "out")
    error = _error(["explain", files["model"], files["images"][2], "--out", out,
                    "--learning-rate", "1e30"] + FAST, capsys)
    assert "closed the bottleneck completely" in error
    assert not os.path.exists(os.path.join(out, "img0_iba.npy"))
