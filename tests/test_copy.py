"""IBACopy: a faithful copy of the tail, analyses through it, and the original left alone."""
import keras
import numpy as np
import pytest
import tensorflow.compat.v1 as tf  # the TensorFlow 1 API on both stacks

from conftest import TF2
from iba_tf import IBACopy, model_wo_softmax


def plain_cnn():
    """A small CNN without a bottleneck, with BatchNorm and Dropout after the feature."""
    return keras.Sequential([
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", input_shape=(32, 32, 3),
                            name="conv1"),
        keras.layers.Conv2D(8, 3, padding="same", strides=2, activation="relu", name="conv2"),
        keras.layers.BatchNormalization(name="bn"),
        keras.layers.Dropout(0.2),
        keras.layers.Flatten(),
        keras.layers.Dense(5, name="logits"),
    ])


@pytest.fixture
def cnn_copy():
    model = plain_cnn()
    images = np.random.rand(30, 32, 32, 3).astype("float32")
    iba = IBACopy(model.get_layer("conv1").output, model.output)
    iba.fit({model.input: images})
    return model, iba, images


@pytest.mark.parametrize("by_name", [False, True])
def test_copy_predicts_like_the_model_and_analyzes(by_name):
    model = plain_cnn()
    images = np.random.rand(30, 32, 32, 3).astype("float32")
    feature = model.get_layer("conv1").output
    if by_name:
        iba = IBACopy(feature.name, model.output.name)
    else:
        iba = IBACopy(feature, [model.output])
    predicted = iba.predict({model.input: images})
    if not by_name:
        predicted = predicted[0]                       # a list of outputs gives a list back
    np.testing.assert_allclose(predicted, model.predict(images), rtol=1e-5, atol=1e-5)
    assert iba.feature_shape() == (32, 32, 8)
    np.testing.assert_array_equal(iba.get_feature({model.input: images[:2]}),
                                  keras.backend.function([model.input], [feature])(
                                      [images[:2]])[0])
    iba.fit({model.input: images})
    target = iba.set_classification_loss()
    capacity = iba.analyze({model.input: images[:1]}, {target: 2})
    assert capacity.shape == (32, 32, 8) and np.all(np.isfinite(capacity))
    assert iba.analyze({model.input: images[:3]}, {target: [0, 1, 2]}).shape == (3, 32, 32, 8)


def test_the_bottleneck_works_through_the_copy(cnn_copy):
    model, iba, images = cnn_copy
    target = iba.set_classification_loss()
    label = int(model.predict(images[:1]).argmax())
    feed, copy_feed = {model.input: images[:1]}, {target: label}
    default = iba.analyze(feed, copy_feed).sum()
    assert iba.analyze(feed, copy_feed, beta=1e4, steps=20).sum() < 0.01 * default
    assert iba.analyze(feed, copy_feed, beta=0).sum() > 100 * default


def test_the_original_model_is_untouched_and_copies_coexist(cnn_copy):
    model, iba, images = cnn_copy
    before = model.predict(images)              # Keras builds its predict function once
    graph = tf.get_default_graph()
    n_ops = len(graph.get_operations())
    other = IBACopy(model.get_layer("conv2").output, model.output, beta=3)
    other.fit({model.input: images})
    targets = iba.set_classification_loss(), other.set_classification_loss()
    iba.analyze({model.input: images[:1]}, {targets[0]: 1})
    assert other.analyze({model.input: images[:1]}, {targets[1]: 1}).shape == (16, 16, 8)
    with iba.restrict_flow():
        np.testing.assert_array_equal(model.predict(images), before)
        assert np.abs(iba.predict({model.input: images[:1]}) - before[:1]).max() > 1e-4
    np.testing.assert_array_equal(model.predict(images), before)
    assert len(graph.get_operations()) == n_ops
    assert other.get_default()["beta"] == 3 and iba.get_default()["beta"] == 10


def test_update_variables_after_editing_the_model(cnn_copy):
    model, iba, images = cnn_copy
    iba.assert_variables_equal()
    dense = model.get_layer("logits")
    kernel, bias = dense.get_weights()
    dense.set_weights([kernel * 3, bias + 1])
    with pytest.raises(AssertionError, match="logits/kernel.*update_variables"):
        iba.assert_variables_equal()
    assert np.abs(iba.predict({model.input: images}) - model.predict(images)).max() > 1e-3
    iba.update_variables()
    iba.assert_variables_equal()
    np.testing.assert_allclose(iba.predict({model.input: images}), model.predict(images),
                               rtol=1e-5, atol=1e-5)


def test_a_custom_regression_loss_on_the_copied_outputs(cnn_copy):
    model, iba, images = cnn_copy
    with iba.copied_session_and_graph_as_default():
        assert tf.get_default_graph() is iba.copied_graph
        wanted = tf.placeholder(tf.float32, [None], name="wanted")
        iba.set_model_loss(tf.square(iba.get_copied_outputs()[:, 0] - wanted))
    value = float(model.predict(images[:1])[0, 0])
    capacity = iba.analyze({model.input: images[:1]}, {wanted: [value]})
    assert capacity.shape == (32, 32, 8) and capacity.sum() > 0
    with pytest.raises(ValueError, match="not in the copied graph"):
        iba.set_model_loss(tf.reduce_sum(model.output))


def test_a_second_input_after_the_feature_is_computed_and_fed():
    image = keras.layers.Input((16, 16, 1))
    extra = keras.layers.Input((3,))
    conv = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(image)
    joined = keras.layers.concatenate([keras.layers.Flatten()(conv), keras.layers.Dense(4)(extra)])
    model = keras.models.Model([image, extra], keras.layers.Dense(3)(joined))
    x = [np.random.rand(20, 16, 16, 1), np.random.rand(20, 3)]
    iba = IBACopy(model.get_layer("conv").output, model.output)
    feed = {model.inputs[0]: x[0], model.inputs[1]: x[1]}
    np.testing.assert_allclose(iba.predict(feed), model.predict(x), rtol=1e-5, atol=1e-5)
    iba.fit(feed)
    target = iba.set_classification_loss()
    one = {model.inputs[0]: x[0][:2], model.inputs[1]: x[1][:2]}
    assert iba.analyze(one, {target: [0, 1]}).shape == (2, 14, 14, 4)


def test_vgg16_copies_only_the_tail():
    model = model_wo_softmax(keras.applications.VGG16(weights=None, input_shape=(64, 64, 3)))
    images = np.random.rand(4, 64, 64, 3).astype("float32") * 255
    n_ops = len(tf.get_default_graph().get_operations())
    iba = IBACopy(model.get_layer("block4_conv1").output, model.output)
    copied_names = {op.name for op in iba.copied_graph.get_operations()}
    # the copy of the model's ops (the bottleneck's own ops are not under copy/)
    assert sum(name.startswith("copy/") for name in copied_names) < n_ops / 3
    assert not any(name.startswith("copy/block3") for name in copied_names)
    # the convolution op is "convolution" in Keras 2.3.1, "Conv2D" in Keras 2.14
    assert any(name.startswith("copy/block5_conv3/") and op_type == "Conv2D"
               for name, op_type in ((op.name, op.type)
                                     for op in iba.copied_graph.get_operations()))
    np.testing.assert_allclose(iba.predict({model.input: images}), model.predict(images),
                               rtol=1e-4, atol=1e-5)
    iba.fit({model.input: images})
    target = iba.set_classification_loss()
    assert iba.analyze({model.input: images[:1]}, {target: 7}, steps=2).shape == (8, 8, 512)


def test_resnet50_with_the_feature_inside_a_residual_block():
    model = model_wo_softmax(keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3)))
    images = np.random.rand(3, 64, 64, 3).astype("float32") * 255
    # the first convolution of stage 3's second block starts a residual branch; the block's
    # shortcut skips around it (Keras 2.14 names ResNet50's layers differently from 2.3.1)
    branch = "conv3_block2_1_conv" if TF2 else "res3b_branch2a"
    iba = IBACopy(model.get_layer(branch).output, model.output)
    assert len(iba._tail.fed) == 1                  # the shortcut, computed in the original
    np.testing.assert_allclose(iba.predict({model.input: images}), model.predict(images),
                               rtol=1e-4, atol=1e-3)
    iba.fit({model.input: images})
    target = iba.set_classification_loss()
    capacity = iba.analyze({model.input: images[:1]}, {target: 3}, steps=2)
    assert capacity.shape == (8, 8, 128) and np.all(np.isfinite(capacity))


def test_bad_feature_and_outputs_are_named_and_leave_the_graph_alone():
    model = plain_cnn()
    graph = tf.get_default_graph()
    n_ops = len(graph.get_operations())
    feature_name = model.get_layer("conv1").output.name
    with pytest.raises(ValueError, match=r"'conv1/Rellu:0' is not in the graph.*conv1/Relu:0"):
        IBACopy("conv1/Rellu:0", model.output)
    with pytest.raises(ValueError, match="output tensor 'logit/BiasAdd:0'.*logits/BiasAdd:0"):
        IBACopy(feature_name, "logit/BiasAdd:0")
    with pytest.raises(TypeError, match="tf.Tensor or a tensor name"):
        IBACopy(feature_name, model)
    with pytest.raises(ValueError, match="do not depend on the feature"):
        IBACopy(model.get_layer("conv2").output, model.get_layer("conv1").output)
    with pytest.raises(ValueError, match="outputs is empty"):
        IBACopy(feature_name, [])
    assert len(graph.get_operations()) == n_ops


def test_state_dict_names_the_tensors(cnn_copy):
    model, iba, images = cnn_copy
    state = iba.state_dict()
    assert state["feature"] == model.get_layer("conv1").output.name
    other = IBACopy(model.get_layer("conv1").output, model.output)
    other.load_state_dict(state)
    np.testing.assert_array_equal(other.estimator.mean(), iba.estimator.mean())


@pytest.mark.parametrize("group_bytes", [1000, 2 ** 30])
def test_variables_are_copied_in_groups(monkeypatch, group_bytes):
    from iba_tf.tensorflow_v1 import transfer as copy_module
    monkeypatch.setattr(copy_module, "TRANSFER_BYTES", group_bytes)
    model = plain_cnn()
    images = np.random.rand(8, 32, 32, 3).astype("float32")
    iba = IBACopy(model.get_layer("conv1").output, model.output)
    groups = iba._transfer_groups()
    pieces = [piece for group in groups for piece in group]
    assert {p.transfer for p in pieces} == set(iba._transfers)
    assert len(iba._transfers) == len(iba._tail.variables)
    for transfer in iba._transfers:     # the pieces of a variable add up to it
        assert sum(p.nbytes for p in transfer.pieces) == transfer.nbytes
    assert all(len(g) == 1 or sum(p.nbytes for p in g) <= group_bytes for g in groups)
    if group_bytes == 1000:     # conv2's 3x3x8x8 kernel (2.3 kB) and the logits kernel are sliced
        assert len(groups) > 2 and len(pieces) > len(iba._transfers)
        sliced = [p for p in pieces if len(p.transfer.pieces) > 1]
        assert sliced and all(p.nbytes <= 1000 for p in sliced)
    else:
        assert len(groups) == 1 and len(pieces) == len(iba._transfers)
    iba.assert_variables_equal()
    np.testing.assert_allclose(iba.predict({model.input: images}), model.predict(images),
                               rtol=1e-5, atol=1e-5)
    dense = model.get_layer("logits")
    dense.set_weights([w + 1 for w in dense.get_weights()])
    with pytest.raises(AssertionError, match="logits/kernel"):
        iba.assert_variables_equal()
    n_ops = len(tf.get_default_graph().get_operations())
    iba.update_variables()
    iba.assert_variables_equal()
    assert len(tf.get_default_graph().get_operations()) == n_ops     # slices made once


def test_large_reference_variables_are_copied_in_slices(monkeypatch):
    """A graph of plain (reference, not resource) variables, the larger one sliced."""
    from iba_tf.tensorflow_v1 import transfer as copy_module
    monkeypatch.setattr(copy_module, "TRANSFER_BYTES", 40 * 4)
    rng = np.random.RandomState(0)
    inputs = tf.placeholder(tf.float32, [None, 6])
    weights = tf.Variable(rng.randn(6, 30).astype("float32"), use_resource=False)
    feature = tf.nn.relu(tf.matmul(inputs, weights))
    head = tf.Variable(rng.randn(30, 4).astype("float32"), use_resource=False)
    logits = tf.matmul(feature, head)
    session = tf.Session()
    session.run(tf.global_variables_initializer())
    iba = IBACopy(feature, logits, session=session)
    (transfer,) = iba._transfers
    assert len(transfer.pieces) == 3        # 480 bytes in slices of 10 rows
    x = rng.randn(5, 6).astype("float32")
    np.testing.assert_allclose(iba.predict({inputs: x}), session.run(logits, {inputs: x}),
                               rtol=1e-6)
    session.run(head[12:15].assign(tf.zeros([3, 4])))
    with pytest.raises(AssertionError, match=head.op.name):
        iba.assert_variables_equal()
    iba.update_variables()
    iba.assert_variables_equal()
    np.testing.assert_allclose(iba.predict({inputs: x}), session.run(logits, {inputs: x}),
                               rtol=1e-6)


def test_copying_a_model_that_holds_an_iba_layer():
    from conftest import small_cnn
    model = small_cnn()
    images = np.random.rand(10, 32, 32, 3).astype("float32")
    before = model.predict(images)
    iba = IBACopy(model.layers[0].output, model.output)     # the IBALayer is in the tail
    np.testing.assert_allclose(iba.predict({model.input: images}), before, rtol=1e-5,
                               atol=1e-5)
    iba.fit({model.input: images})
    target = iba.set_classification_loss()
    assert iba.analyze({model.input: images[:1]}, {target: 1}).shape == (32, 32, 8)
