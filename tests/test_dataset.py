"""explain-dataset: complete, resumable runs into one HDF5 file, in-process and on Dask."""
import argparse
import os
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest
from PIL import Image

from conftest import save_tiny_cnn
from iba_tf.dataset import DatasetError, MissingDaskError, explain_dataset, read_results
from iba_tf.cli.explain_dataset import add_parser as add_explain_dataset_parser
from iba_tf.cli.explain_dataset import run as command_explain_dataset
from iba_tf.errors import InputError
from iba_tf.dataset.sources import open_source
from iba_tf.dataset.store import DONE, FAILED, LAYOUT, PENDING, Store

DOCS = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "dataset.md")
FAST = dict(steps=2, batch_size=4, fit_samples=16, chunk_size=4, progress=False, log=None)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A saved 16x16 RGB CNN with a softmax (3 classes), 2 class folders of 10 images (one of
    them a corrupt file) and an .npz file of 12 images with labels."""
    root = tmp_path_factory.mktemp("dataset")
    rng = np.random.RandomState(0)
    model_path = save_tiny_cnn(str(root / "tiny.h5"), size=16, classes=3)
    for name in ("cat", "dog"):
        (root / "images" / name).mkdir(parents=True)
        for i in range(9 if name == "dog" else 10):
            Image.fromarray((rng.rand(20, 18, 3) * 255).astype(np.uint8)).save(
                str(root / "images" / name / "{}.png".format(i)))
    (root / "images" / "dog" / "corrupt.png").write_bytes(b"this is no image")
    np.savez(str(root / "arrays.npz"), x=(rng.rand(12, 16, 16, 3) * 255).astype(np.uint8),
             y=np.arange(12) % 3)
    import keras
    keras.backend.clear_session()
    return model_path, str(root / "images"), str(root / "arrays.npz")


def _check_complete(path, n_items):
    results = read_results(path)
    assert len(results["key"]) == len(set(results["key"])) == n_items
    assert results["saliency"].shape == (n_items, 16, 16)
    assert set(results["status"]) <= {DONE, FAILED} and PENDING not in results["status"]
    done = results["status"] == DONE
    assert np.all(np.isfinite(results["saliency"][done]))
    np.testing.assert_allclose(results["bits"][done], results["saliency"][done].sum(axis=(1, 2)),
                               rtol=1e-4)
    return results


def test_folder_run_is_complete_reports_the_corrupt_image_and_has_the_documented_layout(
        data, tmp_path):
    model, images, _ = data
    out = str(tmp_path / "run.h5")
    summary = explain_dataset(model, images, out, workers=0, targets="label", **FAST)
    assert (summary.n_items, summary.done, summary.failed, summary.pending) == (20, 19, 1, 0)
    results = _check_complete(out, 20)
    bad = results["key"].index("dog/corrupt.png")
    assert results["status"][bad] == FAILED and "cannot read" in results["error"][bad]
    assert np.all(np.isnan(results["saliency"][bad])) and results["target"][bad] == -1
    assert results["classes"] == ["cat", "dog"]
    np.testing.assert_array_equal(results["label"], [0] * 10 + [1] * 10)
    ok = results["status"] == DONE
    np.testing.assert_array_equal(results["target"][ok], results["label"][ok])
    assert np.all(results["seconds"][ok] > 0) and set(results["predicted"][ok]) <= {0, 1, 2}
    attrs = results["attrs"]
    assert attrs["layer"] == "conv2" and attrs["targets"] == "label"
    assert attrs["softmax_removed"] and list(attrs["input_shape"]) == [16, 16, 3]
    assert results["statistics"]["estimator"]["n"] == attrs["fit_samples"] in (15, 16)
    # every documented dataset is in the file, and the docs describe every one
    with open(DOCS) as f:
        docs = f.read()
    with h5py.File(out, "r") as f:
        for name, (dtype, _, _) in LAYOUT.items():
            assert name in f and "/" + name in docs, name
            if dtype != "str":
                assert f[name].dtype == np.dtype(dtype), name
        assert f["saliency"].shape == (20, 16, 16) and "statistics" in f
    # a rerun has nothing to do; --retry-failed tries the corrupt image again
    again = explain_dataset(model, images, out, workers=0, targets="label", **FAST)
    assert again.explained == 0
    retried = explain_dataset(model, images, out, workers=0, targets="label", retry_failed=True,
                              **FAST)
    assert (retried.explained, retried.failed_now, retried.done) == (1, 1, 19)


def _interrupt_after(monkeypatch, writes):
    """Makes the writer raise KeyboardInterrupt (Ctrl-C) after ``writes`` writes."""
    original, calls = Store.write, []

    def write(self, result):
        if len(calls) == writes:
            raise KeyboardInterrupt
        calls.append(len(result["index"]))
        return original(self, result)
    monkeypatch.setattr(Store, "write", write)
    return calls


def test_resume_after_an_interruption_explains_only_the_missing_items(data, tmp_path,
                                                                      monkeypatch):
    model, images, _ = data
    out = str(tmp_path / "resumed.h5")
    calls = _interrupt_after(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        explain_dataset(model, images, out, workers=0, **FAST)
    monkeypatch.undo()
    halfway = read_results(out)                          # readable after the interruption
    assert list(halfway["status"]).count(PENDING) == 20 - sum(calls) == 12
    assert np.all(np.isnan(halfway["saliency"][halfway["status"] == PENDING]))
    first = halfway["saliency"][halfway["status"] != PENDING]
    summary = explain_dataset(model, images, out, workers=0, **FAST)
    assert summary.explained == 12 and summary.pending == 0
    resumed = _check_complete(out, 20)
    np.testing.assert_array_equal(resumed["saliency"][halfway["status"] != PENDING], first)
    reference = _check_complete(
        explain_dataset(model, images, str(tmp_path / "reference.h5"), workers=0, **FAST).path,
        20)
    assert resumed["key"] == reference["key"]
    assert resumed["saliency"].shape == reference["saliency"].shape
    np.testing.assert_array_equal(resumed["status"], reference["status"])


WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from iba_tf.dataset.store import Store
    store = Store.open(sys.argv[1])
    for start in range(0, len(store.status), 4):
        index = np.arange(start, start + 4)
        store.write({"index": index, "saliency": np.ones((4, 8, 8), "f4") * index[:, None, None],
                     "target": index, "predicted": index, "bits": index * 64.,
                     "seconds": np.ones(4), "error": [""] * 4})
        if start == 40:
            print("writing", flush=True)
""")


def test_a_killed_writer_leaves_a_readable_file(tmp_path):
    path = str(tmp_path / "killed.h5")
    n = 20000
    state = {"estimator": {"n": 0, "mean": None, "m2": None, "nonzero": None},
             "feature_mean": None, "feature_std": None, "feature_active": None,
             "defaults": {"beta": 10.}}
    Store.create(path, {"model": "m.h5"}, [str(i) for i in range(n)], np.full(n, -1), (8, 8),
                 state)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, path], stdout=subprocess.PIPE)
    try:
        assert writer.stdout.readline().strip() == b"writing"
        time.sleep(0.3)
        writer.send_signal(signal.SIGKILL)               # mid-run, no clean-up at all
        writer.wait(timeout=30)
    finally:
        writer.kill()
    results = read_results(path)
    done = results["status"] == DONE
    assert 44 <= done.sum() < n and not np.any(results["status"] == FAILED)
    index = np.flatnonzero(done)
    np.testing.assert_array_equal(results["saliency"][done],
                                  np.ones((len(index), 8, 8)) * index[:, None, None])
    np.testing.assert_array_equal(results["target"][done], index)
    with Store.open(path) as store:                      # and a rerun can continue it
        assert len(store.pending()) == n - done.sum()


def test_array_file_with_a_fixed_target_and_the_checks_of_a_rerun(data, tmp_path):
    model, _, arrays = data
    out = str(tmp_path / "arrays.h5")
    summary = explain_dataset(model, arrays, out, workers=0, targets=2, **FAST)
    results = _check_complete(out, 12)
    assert summary.done == 12 and set(results["target"]) == {2}
    np.testing.assert_array_equal(results["label"], np.arange(12) % 3)
    assert results["key"] == [str(i) for i in range(12)]
    with pytest.raises(DatasetError, match=r"another --targets \(2 there, predicted now\)"):
        explain_dataset(model, arrays, out, workers=0, targets="predicted", **FAST)
    with pytest.raises(DatasetError, match="another the IBA hyperparameters"):
        explain_dataset(model, arrays, out, workers=0, targets=2, **dict(FAST, steps=3))
    with pytest.raises(DatasetError, match="--targets 3 is out of range: the model has 3"):
        explain_dataset(model, arrays, out, workers=0, targets=3, overwrite=True, **FAST)
    with pytest.raises(DatasetError, match="unknown layer 'conv_1'; did you mean conv1"):
        explain_dataset(model, arrays, str(tmp_path / "x.h5"), workers=0, layer="conv_1", **FAST)


def test_sources_list_folders_flat_folders_and_arrays(data, tmp_path):
    _, images, arrays = data
    folder = open_source(images)
    assert folder.classes == ["cat", "dog"] and folder.keys[0] == "cat/0.png"
    assert len(folder) == 20 and folder.has_labels
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.new("RGB", (4, 4)).save(str(flat / "a.png"))
    assert open_source(str(flat)).keys == ["a.png"] and not open_source(str(flat)).has_labels
    npz = open_source(arrays)
    assert (npz.array_key, npz.label_key, npz.item_shape) == ("x", "y", (16, 16, 3))
    np.save(str(tmp_path / "grey.npy"), np.zeros((3, 16, 16)))
    assert open_source(str(tmp_path / "grey.npy")).item_shape == (16, 16, 1)
    with pytest.raises(DatasetError, match="has no array 'images'"):
        open_source(arrays, array_key="images")
    with pytest.raises(DatasetError, match="data set not found"):
        open_source(str(tmp_path / "missing"))


def test_dask_workers_are_interruptible_and_resume(data, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    psutil = pytest.importorskip("psutil")
    model, images, _ = data
    out = str(tmp_path / "dask.h5")
    _interrupt_after(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        explain_dataset(model, images, out, workers=2, targets="label", **FAST)
    monkeypatch.undo()
    assert list(read_results(out, saliency=False)["status"]).count(PENDING) == 16
    summary = explain_dataset(model, images, out, workers=2, targets="label", **FAST)
    assert (summary.explained, summary.workers, summary.done, summary.failed) == (16, 2, 19, 1)
    assert len(summary.load_seconds) == 2
    results = _check_complete(out, 20)
    assert "cannot read" in results["error"][results["key"].index("dog/corrupt.png")]
    # the clusters are closed: no worker process is left (multiprocessing's tracker may be)
    left = [child for child in psutil.Process().children(recursive=True)
            if "tracker" not in " ".join(child.cmdline())]
    assert not left


def test_without_dask_the_error_names_the_extra(data, tmp_path, monkeypatch):
    model, images, _ = data
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(MissingDaskError, match=r'pip install "iba-tf\[dask\]"'):
        explain_dataset(model, images, str(tmp_path / "one.h5"), workers=1, **FAST)
    assert not os.path.exists(str(tmp_path / "one.h5"))
    args = _parser().parse_args(["explain-dataset", model, images, "--out",
                                 str(tmp_path / "one.h5"), "--workers", "1"])
    with pytest.raises(InputError, match=r'iba-tf\[dask\]'):
        args.run(args)


def _parser():
    parser = argparse.ArgumentParser(prog="iba-tf")
    add_explain_dataset_parser(parser.add_subparsers(dest="command"))
    return parser


def test_the_command_runs_and_reports_bad_input_in_one_line(data, tmp_path, capsys):
    model, images, arrays = data
    out = str(tmp_path / "cli.h5")
    common = ["--out", out, "--workers", "0", "--steps", "2", "--fit-samples", "8",
              "--no-progress"]
    args = _parser().parse_args(["explain-dataset", model, arrays, "--targets", "label"] + common)
    assert args.run is command_explain_dataset
    summary = args.run(args)
    assert summary.done == 12 and "Done: 12 items explained" in capsys.readouterr().out
    for extra, message in [
            (["--targets", "cat"], "targets 'cat' is invalid: use 'label'"),
            (["--chunk-size", "0"], "chunk_size=0 is invalid: it must be an int >= 1"),
            (["--steps", "-1"], "steps=-1 is invalid"),
            (["--resize", "8"], "resize 8x8 is smaller than the model's input 16x16"),
            (["--fit-samples", "1"], "fit_samples=1 is invalid")]:
        args = _parser().parse_args(["explain-dataset", model, images] + common + extra + [
            "--out", str(tmp_path / "never.h5")])
        with pytest.raises(InputError, match=message):
            args.run(args)
    assert not os.path.exists(str(tmp_path / "never.h5"))
    for argv, message in [
            ([model, str(tmp_path / "nothing")], "data set not found"),
            (["MISSING.h5", images], "model file not found: MISSING.h5"),
            ([model, arrays.replace("arrays.npz", "images/cat")], "--targets label needs "
             "labels")]:
        args = _parser().parse_args(["explain-dataset"] + argv + [
            "--out", str(tmp_path / "never.h5"), "--targets", "label", "--workers", "0"])
        with pytest.raises(InputError, match=message):
            args.run(args)


def test_the_options_record_takes_fields_and_hyperparameters_by_keyword(data, tmp_path):
    from iba_tf.dataset.options import DatasetOptions
    model, images, _ = data
    out = str(tmp_path / "never.h5")
    with pytest.raises(TypeError, match="unknown option.*gamma"):
        explain_dataset(model, images, out, gamma=1)
    with pytest.raises(TypeError, match="options must be a DatasetOptions"):
        explain_dataset(model, images, out, "conv1")
    for name in ("beta", "learning_rate", "min_std", "smooth_std"):
        with pytest.raises(DatasetError, match="{}=inf is invalid".format(name)):
            explain_dataset(model, images, out, workers=0, **{name: float("inf")})
    options = DatasetOptions.from_keywords(DatasetOptions(seed=3), steps=3, workers=0,
                                           resize="20x24", targets=1)
    assert (options.seed, options.workers, options.hyperparameters) == (3, 0, {"steps": 3})
    checked = options.checked()
    assert checked.hyperparameters == dict(batch_size=10, steps=3, beta=10., learning_rate=1.,
                                           min_std=0.01, smooth_std=1., normalize_beta=True)
    assert (checked.resize, checked.targets, checked.custom_objects) == ((20, 24), "1", ())
    assert not os.path.exists(out)
