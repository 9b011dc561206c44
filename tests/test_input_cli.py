"""InputIBA on the command line: explain / explain-dataset --input-resolution, its input-stage
options (--input-beta, ..., --prior-scale, --input-prior gan and --gan-*), the method and
settings a result file records, and the options that do not combine with it (one line, exit
code 2)."""
import json
import os

import h5py
import keras
import numpy as np
import pytest
from PIL import Image

from conftest import save_tiny_cnn
from iba_tf import cli
from iba_tf.dataset import read_results
from iba_tf.dataset.options import DatasetOptions
from iba_tf.dataset.store import DONE, PENDING
from iba_tf.errors import InputError

FAST = ["--layer", "conv2", "--steps", "2"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny softmax CNN (16x16x3, 3 classes, conv2 at 8x8), 6 labelled arrays and two PNGs
    of the first two."""
    root = tmp_path_factory.mktemp("input_cli")
    model = save_tiny_cnn(str(root / "tiny.h5"), size=16, classes=3)
    x = (np.random.RandomState(0).rand(6, 16, 16, 3) * 255).astype(np.uint8)
    np.savez(str(root / "arrays.npz"), x=x, y=np.arange(6) % 3)
    images = []
    for i in range(2):
        images.append(str(root / "image{}.png".format(i)))
        Image.fromarray(x[i]).save(images[-1])
    keras.backend.clear_session()
    return dict(root=root, model=model, arrays=str(root / "arrays.npz"), images=images)


def _main(argv):
    keras.backend.clear_session()
    return cli.main(argv)


def _error(argv, capsys):
    capsys.readouterr()
    code = _main(argv)
    error = capsys.readouterr().err
    assert code == 2 and error.count("\n") == 1, error
    return error


def test_explain_with_input_resolution_writes_input_size_maps_of_input_iba(tiny, capsys):
    maps = {}
    for name, extra in (("feature", []), ("input", ["--input-resolution"])):
        out = str(tiny["root"] / name)
        assert _main(["explain", tiny["model"]] + tiny["images"] + FAST + extra +
                     ["--out", out, "--target", "1"]) == 0
        maps[name] = [np.load(os.path.join(out, "image{}_iba.npy".format(i)))
                      for i in range(2)]
        assert os.path.getsize(os.path.join(out, "image0_iba.png")) > 1000
    printed = capsys.readouterr().out
    assert "Estimating the feature and input statistics" in printed
    for feature, saliency in zip(maps["feature"], maps["input"]):
        assert saliency.shape == feature.shape == (16, 16)
        assert np.isfinite(saliency).all() and saliency.min() >= 0
        # the feature-level map is bilinear over 8x8 feature pixels; InputIBA's is not it
        assert not np.allclose(saliency, feature, rtol=0.1, atol=1e-3)


def test_the_hyperparameters_set_stage_1_and_the_input_stage_has_its_own():
    from iba_tf.tensorflow_v1.input_prior import INPUT_DEFAULTS, PRIOR_SCALE
    from iba_tf.tensorflow_v1.model_analyzer import InputModelAnalyzer
    model = keras.Sequential([
        keras.layers.Conv2D(4, 3, padding="same", input_shape=(8, 8, 3), name="conv"),
        keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")])
    explainer = InputModelAnalyzer.build(model, "conv", explain_predicted=False, steps=2,
                                         beta=3)
    defaults = explainer.analyzer.get_default()
    assert (defaults["feature"]["steps"], defaults["feature"]["beta"]) == (2, 3.)
    assert defaults["input"] == INPUT_DEFAULTS and defaults["prior_scale"] == PRIOR_SCALE
    assert explainer.softmax_removed and explainer.layer == "conv"
    explainer = InputModelAnalyzer.build(model, "conv", steps=2, input_settings={"beta": 5},
                                         prior_scale=0.25)
    defaults = explainer.analyzer.get_default()
    assert defaults["feature"]["steps"] == 2 and defaults["feature"]["beta"] == 10.
    assert defaults["input"] == dict(INPUT_DEFAULTS, beta=5.) and defaults["prior_scale"] == .25


def test_the_input_stage_options_parse_into_settings_and_show_their_defaults(capsys):
    from iba_tf.cli.common import input_stage_from_args
    parser = cli.build_parser()
    for command in (["explain", "m.h5", "a.png"], ["explain-dataset", "m.h5", "x.npy", "--out",
                                                    "o.h5"]):
        args = parser.parse_args(command + ["--input-resolution", "--input-beta", "3",
                                            "--input-lr", "0.5", "--input-no-normalize-beta",
                                            "--prior-scale", "0.5", "--beta", "7"])
        assert input_stage_from_args(args) == {
            "input_settings": {"beta": 3., "learning_rate": .5, "normalize_beta": False},
            "prior_scale": .5, "prior": "feature", "gan_settings": {}}
        assert args.beta == 7. and args.normalize_beta is True     # stage 1 keeps its own
        args = parser.parse_args(command + ["--input-resolution"])
        assert input_stage_from_args(args) == {"input_settings": {}, "prior_scale": .9,
                                               "prior": "feature", "gan_settings": {}}
        assert input_stage_from_args(parser.parse_args(command)) == {}
    for command in ("explain", "explain-dataset"):
        with pytest.raises(SystemExit):
            parser.parse_args([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "--input-steps INT optimisation steps per sample (default: 20)" in text
        # the last mention of an option is its help
        assert "(default: 0.5)" in text.split("--input-smooth-std")[-1].split("--input")[0]
        assert "(default: 0.9)" in text.split("--prior-scale")[-1]
        assert "Python" not in text


def recorded_defaults(monkeypatch):
    """A list that receives the InputIBA defaults of every in-process explanation
    (``iba-tf explain``, ``explain-dataset --workers 0``)."""
    from iba_tf.tensorflow_v1.model_analyzer import InputModelAnalyzer
    used = []
    original = InputModelAnalyzer.explain

    def explain(self, x, targets=None, keys=None):
        used.append(self.analyzer.get_default())
        return original(self, x, targets, keys)
    monkeypatch.setattr(InputModelAnalyzer, "explain", explain)
    return used


def test_explain_gives_the_input_stage_options_to_the_analyzer(tiny, monkeypatch):
    from iba_tf.tensorflow_v1.input_prior import INPUT_DEFAULTS
    used = recorded_defaults(monkeypatch)
    out = str(tiny["root"] / "options")
    assert _main(["explain", tiny["model"], tiny["images"][0], "--out", out,
                  "--input-resolution", "--input-steps", "1", "--input-beta", "1e4",
                  "--input-smooth-std", "0", "--prior-scale", "0.5"] + FAST) == 0
    [defaults] = used
    assert defaults["input"] == dict(INPUT_DEFAULTS, steps=1, beta=1e4, smooth_std=0.)
    assert defaults["prior_scale"] == .5 and defaults["feature"]["steps"] == 2
    assert np.isfinite(np.load(os.path.join(out, "image0_iba.npy"))).all()


def test_explain_dataset_with_input_resolution_and_its_resume_checks(tiny, capsys):
    root = tiny["root"]
    common = ["explain-dataset", tiny["model"], tiny["arrays"], "--workers", "0",
              "--no-progress", "--fit-samples", "6", "--chunk-size", "4"] + FAST
    input_file, feature_file = str(root / "input.h5"), str(root / "feature.h5")
    assert _main(common + ["--out", input_file, "--input-resolution"]) == 0
    assert _main(common + ["--out", feature_file]) == 0
    assert "feature and input statistics" in capsys.readouterr().out
    results, feature = read_results(input_file), read_results(feature_file)
    assert results["attrs"]["method"] == "input_iba" and feature["attrs"]["method"] == "iba"
    assert results["saliency"].shape == (6, 16, 16) and (results["status"] == DONE).all()
    assert np.isfinite(results["saliency"]).all()
    assert not np.allclose(results["saliency"], feature["saliency"], rtol=0.1, atol=1e-3)
    assert set(results["statistics"]) == {"feature", "input"}
    assert results["statistics"]["input"]["estimator"]["mean"].shape == (16, 16, 3)
    assert results["statistics"]["feature"]["estimator"]["mean"].shape == (8, 8, 6)
    from iba_tf.hyperparameters import INPUT_DEFAULTS
    # the input stage's settings are recorded (all seven, typed) like the others
    assert json.loads(results["attrs"]["input_hyperparameters"]) == INPUT_DEFAULTS
    assert results["attrs"]["prior_scale"] == "0.9" and results["attrs"]["prior"] == "feature"
    assert results["attrs"]["gan_settings"] == ""        # the feature prior has none
    assert feature["attrs"]["input_hyperparameters"] == feature["attrs"]["prior_scale"] == ""
    assert feature["attrs"]["prior"] == feature["attrs"]["gan_settings"] == ""
    # a file is continued only the way it was made
    error = _error(common + ["--out", input_file], capsys)
    assert "holds maps of InputIBA (--input-resolution), not of the Per-Sample" in error
    error = _error(common + ["--out", feature_file, "--input-resolution"], capsys)
    assert "holds maps of the Per-Sample Bottleneck (without --input-resolution)" in error
    with h5py.File(feature_file, "r+") as f:         # a file from before the attribute
        del f.attrs["method"]
    assert "holds maps of the Per-Sample" in _error(
        common + ["--out", feature_file, "--input-resolution"], capsys)
    # ... and with the input stage's settings it was made with
    error = _error(common + ["--out", input_file, "--input-resolution", "--input-beta", "3"],
                   capsys)
    assert "was made with other input-stage hyperparameters" in error
    assert '"beta": 10.0' in error.split(" there")[0] and '"beta": 3.0' in error
    error = _error(common + ["--out", input_file, "--input-resolution", "--prior-scale", ".5"],
                   capsys)
    assert "was made with other --prior-scale (0.9 there, 0.5 now)" in error
    # the input-resolution file resumes with its two stages' statistics
    with h5py.File(input_file, "r+") as f:
        f["items/status"][4:] = PENDING
        f["saliency"][4:] = np.nan
    assert _main(common + ["--out", input_file, "--input-resolution"]) == 0
    assert "2 to go" in capsys.readouterr().out
    resumed = read_results(input_file)
    assert (resumed["status"] == DONE).all() and np.isfinite(resumed["saliency"]).all()
    np.testing.assert_array_equal(resumed["saliency"][:4], results["saliency"][:4])
    # a file from before the input-stage options was made with their defaults
    with h5py.File(input_file, "r+") as f:
        for name in ("input_hyperparameters", "prior_scale", "prior", "gan_settings"):
            del f.attrs[name]
    assert _main(common + ["--out", input_file, "--input-resolution"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert '"steps": 20' in _error(common + ["--out", input_file, "--input-resolution",
                                             "--input-steps", "3"], capsys)
    assert "was made with other --input-prior (feature there, gan now)" in _error(
        common + ["--out", input_file, "--input-resolution", "--input-prior", "gan"], capsys)
    # other input-stage settings reach the workers' analyzer and the file
    other = str(root / "other.h5")
    assert _main(common + ["--out", other, "--input-resolution", "--input-steps", "3",
                           "--input-beta", "1e4", "--prior-scale", "0.5"]) == 0
    attrs = read_results(other, saliency=False)["attrs"]
    assert json.loads(attrs["input_hyperparameters"]) == dict(INPUT_DEFAULTS, steps=3,
                                                              beta=1e4)
    assert attrs["prior_scale"] == "0.5"
    assert not np.allclose(read_results(other)["saliency"], results["saliency"], rtol=0.1,
                           atol=1e-3)


def test_input_resolution_does_not_go_with_a_readout(tiny, tmp_path, capsys):
    never = str(tmp_path / "never")
    message = "--input-resolution and --readout do not combine"
    # any existing file passes as a readout until it is loaded: the check comes first
    assert message in _error(["explain", tiny["model"], tiny["images"][0], "--out", never,
                              "--readout", tiny["model"], "--input-resolution"], capsys)
    assert message in _error(["explain-dataset", tiny["model"], tiny["arrays"], "--workers",
                              "0", "--out", never + ".h5", "--readout", tiny["model"],
                              "--input-resolution"], capsys)
    assert not os.path.exists(never) and not os.path.exists(never + ".h5")
    with pytest.raises(InputError, match="input_resolution='yes' is invalid"):
        DatasetOptions(input_resolution="yes").checked()


def test_the_dataset_options_check_the_input_stage():
    from iba_tf.hyperparameters import INPUT_DEFAULTS
    checked = DatasetOptions(input_resolution=True, input_settings={"beta": 3},
                             prior_scale=0).checked()
    assert checked.input_settings == dict(INPUT_DEFAULTS, beta=3.)
    assert checked.prior_scale == 0. and isinstance(checked.prior_scale, float)
    plain = DatasetOptions().checked()
    assert (plain.input_settings, plain.prior_scale) == ({}, None)
    with pytest.raises(InputError, match="input_settings, prior_scale, prior and gan_settings "
                       "set InputIBA's"):
        DatasetOptions(input_settings={"beta": 3}).checked()
    with pytest.raises(InputError, match="pass input_resolution=True"):
        DatasetOptions(prior_scale=.5).checked()
    with pytest.raises(InputError, match="input_settings: steps=-1 is invalid"):
        DatasetOptions(input_resolution=True, input_settings={"steps": -1}).checked()
    with pytest.raises(InputError, match="input_settings: .*Unknown IBA hyperparameter 'bta'"):
        DatasetOptions(input_resolution=True, input_settings={"bta": 1}).checked()
    with pytest.raises(InputError, match=r"prior_scale=nan is invalid: it must be a number in"):
        DatasetOptions(input_resolution=True, prior_scale=float("nan")).checked()


# ---------------------------------------------------------------- the GAN prior
GAN = ["--input-resolution", "--input-prior", "gan", "--gan-iterations", "1",
       "--gan-critic-steps", "1", "--gan-batch-size", "2"]


def test_the_gan_options_parse_into_settings_and_show_the_gan_defaults(capsys):
    from iba_tf.cli.common import input_stage_from_args
    from iba_tf.hyperparameters import GAN_SETTINGS
    parser = cli.build_parser()
    for command in (["explain", "m.h5", "a.png"], ["explain-dataset", "m.h5", "x.npy", "--out",
                                                    "o.h5"]):
        args = parser.parse_args(command + GAN + ["--gan-lr", "1e-3", "--gan-mask-lr", "0",
                                                  "--gan-noise-lr", "0.5", "--gan-clip", "1"])
        assert input_stage_from_args(args) == {
            "input_settings": {}, "prior_scale": .9, "prior": "gan", "gan_settings": dict(
                iterations=1, critic_steps=1, batch_size=2, learning_rate=1e-3,
                mask_learning_rate=0., noise_learning_rate=.5, clip=1.)}
        args = parser.parse_args(command + ["--input-resolution", "--input-prior", "gan"])
        assert input_stage_from_args(args)["gan_settings"] == {}    # the defaults
        with pytest.raises(SystemExit):
            parser.parse_args(command + ["--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "--input-prior {feature,gan}" in text and "(default: feature)" in text
        for setting in GAN_SETTINGS:        # each option's help ends with its default
            help_text = text.split(setting.flags[0] + " ")[-1].split(" --")[0]
            assert help_text.endswith("(default: {})".format(setting.default)), help_text
        assert "--gan-lr FLOAT the critic's RMSprop learning rate (default: 0.0005)" in text
    with pytest.raises(SystemExit) as exit_info:        # argparse: one choice of two
        parser.parse_args(["explain", "m.h5", "a.png", "--input-prior", "gann"])
    assert exit_info.value.code == 2
    assert "--input-prior: invalid choice: 'gann'" in capsys.readouterr().err


def test_explain_gives_the_gan_options_to_the_analyzer(tiny, monkeypatch):
    from iba_tf.hyperparameters import GAN_DEFAULTS
    used = recorded_defaults(monkeypatch)
    out = str(tiny["root"] / "gan")
    assert _main(["explain", tiny["model"], tiny["images"][0], "--out", out, "--gan-clip",
                  "0.05", "--input-steps", "2"] + GAN + FAST) == 0
    [defaults] = used
    assert defaults["prior"] == "gan"
    assert defaults["gan"] == dict(GAN_DEFAULTS, iterations=1, critic_steps=1, batch_size=2,
                                   clip=.05)
    saliency = np.load(os.path.join(out, "image0_iba.npy"))
    assert saliency.shape == (16, 16) and np.isfinite(saliency).all()


def test_explain_dataset_records_the_gan_prior_and_resumes_only_with_it(tiny, capsys,
                                                                       monkeypatch):
    from iba_tf.hyperparameters import GAN_DEFAULTS
    used = recorded_defaults(monkeypatch)       # the worker's analyzer runs in-process here
    common = ["explain-dataset", tiny["model"], tiny["arrays"], "--workers", "0",
              "--no-progress", "--fit-samples", "6", "--chunk-size", "6", "--input-steps",
              "2"] + FAST
    path = str(tiny["root"] / "gan.h5")
    assert _main(common + GAN + ["--out", path]) == 0
    results = read_results(path)
    assert (results["status"] == DONE).all() and np.isfinite(results["saliency"]).all()
    attrs = results["attrs"]
    assert attrs["method"] == "input_iba" and attrs["prior"] == "gan"
    # all seven settings, typed, like the other settings
    assert json.loads(attrs["gan_settings"]) == dict(GAN_DEFAULTS, iterations=1,
                                                     critic_steps=1, batch_size=2)
    assert json.loads(attrs["input_hyperparameters"])["steps"] == 2
    assert [(d["prior"], d["gan"]) for d in used] == [("gan", json.loads(attrs["gan_settings"]))]
    capsys.readouterr()
    assert _main(common + GAN + ["--out", path]) == 0           # the same settings: resumed
    assert "nothing to do" in capsys.readouterr().out
    error = _error(common + ["--out", path, "--input-resolution"], capsys)
    assert "was made with other --input-prior (gan there, feature now)" in error
    assert "pass --overwrite" in error
    error = _error(common + GAN + ["--out", path, "--gan-clip", "0.2"], capsys)
    assert "was made with other GAN settings (--gan-iterations, --gan-lr, ...)" in error
    assert '"clip": 0.1' in error.split(" there")[0] and '"clip": 0.2' in error
    after = read_results(path, saliency=False)["attrs"]                # left as it was
    assert (after["prior"], after["gan_settings"]) == (attrs["prior"], attrs["gan_settings"])


def test_the_dataset_options_check_the_prior_and_the_gan_settings():
    from iba_tf.hyperparameters import GAN_DEFAULTS
    checked = DatasetOptions(input_resolution=True, prior="gan",
                             gan_settings={"iterations": 2, "clip": 1}).checked()
    assert checked.prior == "gan" and checked.gan_settings == dict(GAN_DEFAULTS, iterations=2,
                                                                   clip=1.)
    assert isinstance(checked.gan_settings["clip"], float)
    feature = DatasetOptions(input_resolution=True).checked()
    assert (feature.prior, feature.gan_settings) == ("feature", {})
    plain = DatasetOptions().checked()
    assert (plain.prior, plain.gan_settings) == (None, {})
    with pytest.raises(InputError, match="pass input_resolution=True"):
        DatasetOptions(prior="gan").checked()
    with pytest.raises(InputError, match="gan_settings set the GAN prior: pass prior='gan'"):
        DatasetOptions(input_resolution=True, gan_settings={"iterations": 2}).checked()
    with pytest.raises(InputError, match="prior='gann' is invalid: it must be one of 'feature', "
                       "'gan'"):
        DatasetOptions(input_resolution=True, prior="gann").checked()
    with pytest.raises(InputError, match="gan_settings: critic_steps=0 is invalid: it must be "
                       "an int >= 1"):
        DatasetOptions(input_resolution=True, prior="gan",
                       gan_settings={"critic_steps": 0}).checked()
    with pytest.raises(InputError, match="gan_settings: unknown setting 'iters'"):
        DatasetOptions(input_resolution=True, prior="gan", gan_settings={"iters": 2}).checked()
