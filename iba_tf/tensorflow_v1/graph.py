"""Questions about the structure of a TensorFlow graph, and the part of it that IBACopy copies."""
import difflib

from .compat import tf, require_graph_mode
from .cond_folding import DEAD, Folded

PLACEHOLDER_TYPES = ("Placeholder", "PlaceholderWithDefault", "PlaceholderV2")
VARIABLE_TYPES = ("VariableV2", "Variable", "VarHandleOp")


def depends_on(tensor, source):
    """Returns True if computing ``tensor`` needs ``source`` (through data inputs)."""
    target_op = source.op
    seen = set()
    stack = [tensor.op]
    while stack:
        op = stack.pop()
        if op is target_op:
            return True
        if op in seen:
            continue
        seen.add(op)
        stack.extend(inp.op for inp in op.inputs)
    return False


def get_tensor(graph, tensor_or_name, what):
    """Returns the tensor of ``graph`` named ``tensor_or_name`` (or the tensor itself).

    A name without ``:index`` means output 0. Raises TypeError for anything but a tensor or a
    str, and ValueError naming close matches for a name that is not in the graph.
    """
    require_graph_mode()
    if isinstance(tensor_or_name, tf.Tensor):
        if tensor_or_name.graph is not graph:
            raise ValueError("The {} tensor {} is not in the given graph.".format(
                what, tensor_or_name.name))
        return tensor_or_name
    if not isinstance(tensor_or_name, str):
        raise TypeError("The {} must be a tf.Tensor or a tensor name (str), got {!r}.".format(
            what, type(tensor_or_name).__name__))
    name = tensor_or_name if ":" in tensor_or_name else tensor_or_name + ":0"
    try:
        return graph.get_tensor_by_name(name)
    except (KeyError, ValueError):
        candidates = [out.name for op in graph.get_operations() for out in op.outputs]
        close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
        hint = " Did you mean {}?".format(" or ".join(repr(c) for c in close)) if close else ""
        raise ValueError("The {} tensor {!r} is not in the graph.{}".format(
            what, tensor_or_name, hint)) from None


def _ancestors(tensors, stop=None, control=True):
    """Ops needed to compute ``tensors``, not looking behind the tensor ``stop``.

    With ``control=False`` only data inputs are followed.
    """
    seen = set()
    stack = [t.op for t in tensors]
    while stack:
        op = stack.pop()
        if op in seen:
            continue
        seen.add(op)
        stack.extend(inp.op for inp in op.inputs if inp is not stop)
        if control:
            stack.extend(op.control_inputs)
    return seen


def _is_batch_input(op):
    if op.type not in PLACEHOLDER_TYPES:
        return False
    rank = op.outputs[0].shape.ndims
    return rank is None or rank > 0


class Tail:
    """The part of a graph that computes ``outputs`` from ``feature``.

    Attributes:
        ops (set): the ops to copy: those on a path from the feature to the outputs, plus the
            constants and variables (and ops computed only from them) that they read.
        fed (list): tensors the copied ops read that depend on input data (placeholders of
            rank >= 1) but not on the feature: skip connections, other inputs. Their values
            are computed in the original session and fed to the copy. Whatever the tail reads
            that depends only on constants, variables and scalar placeholders (such as the Keras
            learning phase, which keeps its default in the copy) is copied.
        variables (list): the variable ops among ``ops``.
    """

    def __init__(self, feature, outputs):
        needed = _ancestors(outputs, stop=feature)
        downstream = set()
        stack = [op for op in feature.consumers() if op in needed]
        while stack:
            op = stack.pop()
            if op in downstream:
                continue
            downstream.add(op)
            stack.extend(c for out in op.outputs for c in out.consumers() if c in needed)
        independent = [t.name for t in outputs if t.op not in downstream]
        if independent:
            raise ValueError(
                "The output(s) {} do not depend on the feature {}: choose a feature tensor "
                "that lies between the model's input and these outputs.".format(
                    ", ".join(independent), feature.name))

        ops, fed = set(downstream), []
        for op in downstream:
            for tensor in op.inputs:
                if tensor is feature or tensor.op in downstream or tensor in fed:
                    continue
                # Control dependencies (e.g. on an assertion about the batch) are not copied
                # from outside the tail, so they do not make a constant batch-dependent.
                sources = _ancestors([tensor], control=False)
                if any(_is_batch_input(source) for source in sources):
                    fed.append(tensor)
                else:
                    ops.update(sources)
        self.feature = feature
        self.outputs = list(outputs)
        self.ops = ops
        self.fed = fed
        self.variables = sorted((op for op in ops if op.type in VARIABLE_TYPES),
                                key=lambda op: op.name)

    def graph_def(self):
        """Returns a GraphDef of the tail's ops, ready for ``tf.import_graph_def``.

        Control dependencies on ops outside the tail and colocation hints are dropped: the copy
        only predicts, and it runs in a graph of its own.
        """
        return _graph_def(self.feature.graph, self.ops)


def bypassing_tensors(bottleneck_output, loss, feature):
    """Tensors that ``loss`` reads around a bottleneck and that come from the model's inputs.

    E.g. the shortcut of a residual block whose branch holds the bottleneck. While the
    bottleneck feeds ``batch_size`` noisy copies per sample downstream, such a tensor has one
    row per sample: it has to be computed once and repeated like the feature.

    Args:
        bottleneck_output: the bottleneck's output tensor.
        loss: the tensor computed after the bottleneck.
        feature: the bottleneck's input (its ancestors are the model's inputs).
    """
    model_inputs = {op for op in _ancestors([feature]) if _is_batch_input(op)}
    return [tensor for tensor in Tail(bottleneck_output, [loss]).fed
            if model_inputs & _ancestors([tensor], control=False)]


CONTROL_FLOW_TYPES = ("Switch", "RefSwitch", "Merge", "RefMerge", "Enter", "RefEnter", "Exit",
                      "RefExit", "NextIteration", "RefNextIteration", "LoopCond",
                      # TensorFlow 2's functional control flow (e.g. Keras 2.14's Dropout)
                      "If", "StatelessIf", "While", "StatelessWhile", "Case", "StatelessCase")


class NotLoopable(ValueError):
    """The ops between a tensor and a loss cannot be copied into a ``tf.while_loop`` body."""


def loop_body_tail(source, output):
    """The ops that compute ``output`` from ``source``, for importing into a loop body.

    Unlike :class:`Tail`, nothing that does not depend on ``source`` is copied: such tensors
    (weights, constants, the target, skip connections) are read from outside the loop, where
    they are computed once per run. Conditionals on a constant-default placeholder (Keras'
    learning phase) keep only the branch of the default (:mod:`.cond_folding`).

    Returns:
        (tf.GraphDef, dict, dict): the ops; the input map of every tensor they read from
        outside (name -> the tensor itself; map ``source.name`` to the new source); and the
        placeholders whose default the folded conditionals assume (tensor -> value).

    Raises:
        NotLoopable: naming the first op that cannot run inside a while loop: other control
            flow, or a stateful op (random numbers, assignments), whose result would change.
    """
    needed = _ancestors([output], stop=source)
    body = set()
    stack = [op for op in source.consumers() if op in needed]
    while stack:
        op = stack.pop()
        if op in body:
            continue
        body.add(op)
        stack.extend(c for out in op.outputs for c in out.consumers() if c in needed)
    if output.op not in body:
        raise NotLoopable("{} does not depend on {}.".format(output.name, source.name))
    full = source.graph.as_graph_def()
    folded = Folded(body, full.library)
    if folded.resolve(output.name) != output.name:
        raise NotLoopable("{} is the output of a conditional.".format(output.name))
    for op in folded.ops:
        _check_loopable(op)
    graph_def = _folded_graph_def(full, folded, output.op.name)
    inside = {node.name for node in graph_def.node}
    external = {}
    for node in graph_def.node:
        for name in node.input:
            if name.startswith("^") or name.split(":")[0] in inside or name == source.name:
                continue
            tensor = source.graph.get_tensor_by_name(name if ":" in name else name + ":0")
            if tensor.dtype._is_ref_dtype:
                raise NotLoopable("{} reads the reference {}.".format(node.name, tensor.name))
            external[tensor.name] = tensor
    return graph_def, external, folded.assumed


def _check_loopable(op):
    context = op._get_control_flow_context()
    if op.type in CONTROL_FLOW_TYPES or (context is not None and context.IsWhileContext()):
        raise NotLoopable("{} ({}) is control flow whose branch is not known before the run, "
                          "e.g. a tf.cond.".format(op.name, op.type))
    if op.op_def.is_stateful:
        raise NotLoopable("{} ({}) is stateful.".format(op.name, op.type))


def _folded_graph_def(full, folded, output):
    """A GraphDef of the folded ops that ``output`` (an op name) needs, their inputs renamed
    by the fold, without control inputs from outside and colocation (the branch not taken
    can leave ops that nothing reads, such as Keras 2.3's training-mode batch norm)."""
    names = {op.name for op in folded.ops}
    for nodes in folded.inlined.values():
        names.update(node.name for node in nodes)
    part = tf.GraphDef()
    part.versions.CopyFrom(full.versions)
    part.library.CopyFrom(full.library)
    kept = [node for node in full.node if node.name in names]
    for node in kept + [n for nodes in folded.inlined.values() for n in nodes]:
        copied = part.node.add()
        copied.CopyFrom(node)
        del copied.input[:]
        for name in node.input:
            if name.startswith("^"):
                if name[1:] in names:
                    copied.input.append(name)
                continue
            resolved = folded.resolve(name if ":" in name else name + ":0")
            if resolved is DEAD:
                raise NotLoopable("{} reads a branch that is never taken.".format(node.name))
            copied.input.append(resolved)
        if "_class" in copied.attr:
            del copied.attr["_class"]
    part = _needed_nodes(part, output)
    inlined = {node.name for nodes in folded.inlined.values() for node in nodes}
    for node in part.node:
        if node.name in inlined:
            _check_inlined(node)
    return part


def _needed_nodes(graph_def, output):
    """``graph_def`` without the nodes that ``output`` does not need."""
    nodes = {node.name: node for node in graph_def.node}
    needed, stack = set(), [output]
    while stack:
        name = stack.pop()
        if name in needed or name not in nodes:
            continue
        needed.add(name)
        stack.extend(inp.lstrip("^").split(":")[0] for inp in nodes[name].input)
    kept = tf.GraphDef()
    kept.versions.CopyFrom(graph_def.versions)
    kept.library.CopyFrom(graph_def.library)
    kept.node.extend(node for node in graph_def.node if node.name in needed)
    return kept


def _check_inlined(node):
    """An op of an inlined branch must be loopable too; reading a variable is (nothing
    assigns one during an analysis)."""
    op_def = _op_def(node.op)
    if node.op in CONTROL_FLOW_TYPES or (op_def.is_stateful and node.op != "ReadVariableOp"):
        raise NotLoopable("{} ({}) in a conditional's branch is control flow or stateful."
                          .format(node.name, node.op))


def _op_def(op_type):
    from tensorflow.python.framework import op_def_registry
    if hasattr(op_def_registry, "get"):
        return op_def_registry.get(op_type)
    return op_def_registry.get_registered_ops()[op_type]


def _graph_def(graph, chosen):
    """A GraphDef of the ``chosen`` ops without control inputs from outside and colocation."""
    names = {op.name for op in chosen}
    full = graph.as_graph_def()
    part = tf.GraphDef()
    part.versions.CopyFrom(full.versions)
    part.library.CopyFrom(full.library)
    for node in full.node:
        if node.name not in names:
            continue
        copied = part.node.add()
        copied.CopyFrom(node)
        del copied.input[:]
        copied.input.extend(inp for inp in node.input
                            if not inp.startswith("^") or inp[1:] in names)
        if "_class" in copied.attr:
            del copied.attr["_class"]
    return part
