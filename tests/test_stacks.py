"""What differs between the two TensorFlow stacks: graph mode on TensorFlow 2, the seam."""
import subprocess
import sys
import textwrap

import pytest

from conftest import TF2

# Runs in a fresh interpreter where eager execution is still on (TensorFlow 2's default).
EAGER_PROGRAM = textwrap.dedent("""
    import numpy as np
    import keras
    from iba_tf import (IBACopy, IBACopyInnvestigate, IBALayer, IBAReadout, InputIBA,
                        TFWelfordEstimator, baselines)
    from iba_tf.tensorflow_v1.compat import EagerExecutionError
    from iba_tf.tensorflow_v1.session import resolve_session

    def message(build):
        try:
            build()
        except EagerExecutionError as error:
            return str(error)
        return "no error"

    def model_with_bottleneck():
        keras.Sequential([keras.layers.Conv2D(4, 3, input_shape=(8, 8, 3)),
                          IBALayer(), keras.layers.Flatten(), keras.layers.Dense(2)])

    model = keras.Sequential([keras.layers.Conv2D(4, 3, input_shape=(8, 8, 3), name="conv"),
                              keras.layers.Flatten(), keras.layers.Dense(2, name="dense")])
    for build in (model_with_bottleneck,
                  lambda: IBACopy("conv/BiasAdd:0", ["dense/BiasAdd:0"]),
                  lambda: TFWelfordEstimator("conv/BiasAdd:0").fit({}),
                  resolve_session,
                  lambda: IBACopyInnvestigate(model, feature_name="conv"),
                  lambda: InputIBA(model, feature_name="conv"),
                  lambda: IBAReadout("conv", ["conv", "dense"], model),
                  lambda: baselines.Gradient(model),
                  lambda: baselines.create_analyzer("gradient", model)):
        print(message(build))
""")


@pytest.mark.tf2_only
def test_eager_execution_gets_one_clear_error_on_the_first_graph_call():
    result = subprocess.run([sys.executable, "-c", EAGER_PROGRAM], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 9
    assert lines[0].startswith("IBALayer needs TensorFlow graph mode")
    for line in lines:
        assert " needs TensorFlow graph mode, but TensorFlow 2." in line, line
        assert "tf.compat.v1.disable_eager_execution()" in line


@pytest.mark.tf2_only
def test_the_tensorflow_1_cond_leaves_control_flow_v2_as_it_was():
    import tensorflow as tf
    from iba_tf.tensorflow_v1.compat import cond
    v1 = tf.compat.v1
    assert v1.control_flow_v2_enabled()
    flag = v1.placeholder_with_default(True, ())
    out = cond(flag, lambda: tf.constant(1.), lambda: tf.constant(2.))
    assert out.op.type == "Merge"           # not a functional If op
    assert v1.control_flow_v2_enabled()
    with pytest.raises(ValueError, match="boom"):
        cond(flag, lambda: (_ for _ in ()).throw(ValueError("boom")), lambda: tf.constant(2.))
    assert v1.control_flow_v2_enabled()
    with v1.Session() as session:
        assert session.run(out) == 1. and session.run(out, {flag: False}) == 2.


def test_the_seam_names_the_stack_and_the_keras_session():
    import keras
    import tensorflow as tf
    from iba_tf.tensorflow_v1 import compat
    assert compat.TF2 == TF2 == tf.__version__.startswith("2.")
    assert compat.keras is keras
    session = compat.get_session()
    assert session is compat.get_session()
    assert isinstance(session, tf.compat.v1.Session)
