"""The port and the core stay apart: iba_tf never imports torch, the port never TensorFlow."""
import subprocess
import sys

import pytest


def _modules_after(statement):
    code = ("import sys\n{}\nprint(' '.join(sorted(name for name in sys.modules "
            "if name.split('.')[0] in ('torch', 'tensorflow', 'keras'))))".format(statement))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    return set(result.stdout.split())


def test_import_iba_tf_loads_no_torch_and_no_tensorflow():
    assert _modules_after("import iba_tf") == set()


def test_the_port_loads_torch_but_no_tensorflow():
    loaded = _modules_after("import iba_tf.pytorch\nfrom iba_tf.pytorch import IBA")
    assert "torch" in loaded
    assert not {name for name in loaded if name.split(".")[0] in ("tensorflow", "keras")}


def test_the_port_exports_its_api():
    import iba_tf.pytorch as port
    for name in port.__all__:
        assert getattr(port, name).__doc__, name
    for method in ("detach", "forward", "interrupt_execution", "enable_estimation",
                   "reset_estimate", "estimate", "restrict_flow", "analyze", "capacity"):
        assert getattr(port.IBA, method).__doc__, method


@pytest.mark.parametrize("name", ["IBALayer", "TFWelfordEstimator"])
def test_the_tensorflow_names_stay_lazy(name):
    import iba_tf
    assert name in iba_tf.__all__ and name not in vars(iba_tf)
