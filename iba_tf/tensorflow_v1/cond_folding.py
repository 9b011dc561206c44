"""Folds conditionals with a known predicate out of a tail, for the in-graph loop.

Keras builds Dropout and BatchNormalization as a ``tf.cond`` on the learning phase (TensorFlow 1:
``Switch``/``Merge`` ops; Keras 2.14 on TensorFlow 2: a functional ``If`` op), which a
``tf.while_loop`` body cannot import (the branches need the control-flow contexts that
``tf.import_graph_def`` does not restore). While explaining, the learning phase is its default,
False: the conditional always takes the same branch. :class:`Folded` keeps that branch alone
(``graph.loop_body_tail`` writes the GraphDef of the loop body from it), so such models get
the in-graph loop too.

A predicate is known when it is (through ``Identity`` ops) a ``PlaceholderWithDefault`` of a
constant boolean, as Keras' learning phase is; the fold assumes that default. Feeding the
placeholder another value (say, the learning phase 1) breaks the assumption:
:func:`assumption_holds` tells the loop's caller to run step by step then.
"""
import numpy as np

from .compat import tf

__all__ = ["Folded", "known_predicate", "assumption_holds", "DEAD"]

SWITCH_TYPES = ("Switch", "RefSwitch")
MERGE_TYPES = ("Merge", "RefMerge")
IF_TYPES = ("If", "StatelessIf")
#: marks a tensor of a branch that is not taken
DEAD = object()


def known_predicate(tensor):
    """``(placeholder, value)`` if ``tensor`` is a constant-default boolean placeholder (through
    ``Identity`` ops), else None."""
    while tensor.op.type == "Identity":
        tensor = tensor.op.inputs[0]
    op = tensor.op
    if op.type != "PlaceholderWithDefault" or op.inputs[0].op.type != "Const":
        return None
    value = tf.make_ndarray(op.inputs[0].op.get_attr("value"))
    if value.shape != () or value.dtype != np.bool_:
        return None
    return op.outputs[0], bool(value)


def assumption_holds(assumed, feed_dict):
    """False if ``feed_dict`` feeds one of the ``assumed`` placeholders another value."""
    for placeholder, value in assumed.items():
        for key in (placeholder, placeholder.name):
            if key in feed_dict and bool(np.asarray(feed_dict[key])) != value:
                return False
    return True


class Folded:
    """The ops of a tail with its known conditionals folded.

    Args:
        body (set): the tail's ops (``tf.Operation``), as ``graph.loop_body_tail`` finds them.
        library: the graph's ``FunctionDefLibrary`` (the branches of ``If`` ops).

    Attributes:
        ops (list): the ops kept, in creation order (every op's inputs before it).
        assumed (dict): placeholder tensor -> the value the fold assumed.
        inlined (dict): op name -> the GraphDef nodes of the branch that replaces an ``If``.
    """

    def __init__(self, body, library):
        self._alias = {}
        self._removed = set()
        self._functions = {f.signature.name: f for f in library.function}
        self.assumed = {}
        self.inlined = {}
        self._body = body
        for op in sorted(body, key=lambda op: op._id):
            self._visit(op)
        self.ops = [op for op in sorted(body, key=lambda op: op._id) if op not in self._removed]

    def resolve(self, tensor_name):
        """The name of the tensor that replaces ``tensor_name`` (itself if none), or DEAD."""
        while tensor_name in self._alias and self._alias[tensor_name] is not DEAD:
            tensor_name = self._alias[tensor_name]
        return self._alias.get(tensor_name, tensor_name)

    def _known(self, tensor):
        known = known_predicate(tensor)
        if known is not None:
            self.assumed[known[0]] = known[1]
        return known

    def _external_switch(self, tensor):
        """Aliases a Switch output computed outside the body (e.g. a weight entering a branch)."""
        op = tensor.op
        if op.type in SWITCH_TYPES and tensor.name not in self._alias:
            known = self._known(op.inputs[1])
            if known is not None:
                self._fold_switch(op, known[1])

    def _fold_switch(self, op, value):
        taken = 1 if value else 0
        self._alias[op.outputs[taken].name] = self.resolve(op.inputs[0].name)
        self._alias[op.outputs[1 - taken].name] = DEAD

    def _visit(self, op):
        for tensor in op.inputs:
            self._external_switch(tensor)
        inputs = [self.resolve(t.name) for t in op.inputs]
        if op.type in MERGE_TYPES:
            live = [name for name in inputs if name is not DEAD]
            if len(live) == 1 and not set(op.outputs[1].consumers()) & self._body:
                self._alias[op.outputs[0].name] = live[0]
                self._removed.add(op)
            return
        if DEAD in inputs or any(c in self._removed and self._is_dead(c)
                                 for c in op.control_inputs):
            for out in op.outputs:
                self._alias[out.name] = DEAD
            self._removed.add(op)
            return
        known = self._known(op.inputs[1 if op.type in SWITCH_TYPES else 0]) \
            if op.type in SWITCH_TYPES + IF_TYPES else None
        if known is None:
            return
        if op.type in SWITCH_TYPES:
            self._fold_switch(op, known[1])
        else:
            self._inline(op, known[1])
        self._removed.add(op)

    def _is_dead(self, op):
        return all(self._alias.get(out.name) is DEAD for out in op.outputs)

    def _inline(self, op, value):
        """Replaces an ``If`` by the nodes of the branch it takes."""
        from tensorflow.python.framework.function_def_to_graph import function_def_to_graph_def
        branch = self._functions[op.get_attr("then_branch" if value else "else_branch").name]
        graph_def, flat_names = function_def_to_graph_def(branch)
        arguments = {arg.name: self.resolve(tensor.name)
                     for arg, tensor in zip(branch.signature.input_arg, op.inputs[1:])}
        prefix = op.name + "/taken/"
        nodes = []
        for node in graph_def.node:
            if node.name in arguments:
                continue
            copied = tf.NodeDef()
            copied.CopyFrom(node)
            copied.name = prefix + node.name
            del copied.input[:]
            for name in node.input:
                control = name.startswith("^")
                base = name.lstrip("^")
                node_name = base.split(":")[0]
                if node_name in arguments:
                    if not control:
                        copied.input.append(arguments[node_name])
                else:
                    copied.input.append(("^" if control else "") + prefix + base)
            nodes.append(copied)
        self.inlined[op.name] = nodes
        for out, arg in zip(op.outputs, branch.signature.output_arg):
            returned = branch.ret[arg.name]
            self._alias[out.name] = prefix + flat_names.get(returned, returned)
