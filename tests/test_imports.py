"""What importing iba_tf loads, checked in a fresh interpreter."""
import subprocess
import sys


def _loaded_after(code):
    out = subprocess.check_output([sys.executable, "-c", code + (
        "\nimport sys\nprint(' '.join(sorted(m.split('.')[0] for m in sys.modules)))")],
        stderr=subprocess.DEVNULL)
    return set(out.decode().split())


def test_the_numpy_parts_load_no_framework():
    loaded = _loaded_after("import iba_tf; iba_tf.WelfordEstimator(); iba_tf.to_saliency_map")
    assert not loaded & {"tensorflow", "keras", "torch", "tensorflow_probability"}


def test_the_tensorflow_parts_load_no_torch_and_no_probability():
    loaded = _loaded_after("from iba_tf import IBALayer, TFWelfordEstimator")
    assert "tensorflow" in loaded and "keras" in loaded
    assert not loaded & {"torch", "tensorflow_probability"}


def test_keras_finds_the_layer_after_import_iba_tf():
    loaded = _loaded_after(
        "import iba_tf, keras\n"
        "assert keras.utils.get_custom_objects()['IBALayer'] is iba_tf.IBALayer")
    assert "keras" in loaded


def test_innvestigate_finds_iba_in_either_import_order():
    for code in ("import iba_tf, innvestigate", "import innvestigate, iba_tf"):
        _loaded_after(
            code + "\nimport innvestigate.analyzer as a\n"
            "assert a.analyzers['iba'] is iba_tf.IBACopyInnvestigate\n"
            "assert a.IBACopyInnvestigate is iba_tf.IBACopyInnvestigate")
