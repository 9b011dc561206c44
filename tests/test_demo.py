"""The demo (make demo) with a reduced setting."""
import os

from iba_tf.examples import demo
from iba_tf.tensorflow_v1.compat import TF2


def test_demo_writes_both_figures(tmp_path, capsys):
    result = demo.main(["--out", str(tmp_path), "--faces", "2", "--digits", "2", "--epochs", "1",
                        "--steps", "2"])
    for part in ("emotions", "digits"):
        assert os.path.getsize(result[part]["figure"]) > 10000
    printed = capsys.readouterr().out
    assert "astronaut" in printed and "accuracy" in printed and "s per explanation" in printed
    if not TF2:     # innvestigate 1.0.9 cannot analyze the fer model; innvestigate 2 can
        assert "LRP-epsilon: not available" in printed   # shown plainly, not hidden
    assert result["digits"]["accuracy"] > 0.5
