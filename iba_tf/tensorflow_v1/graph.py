"""Questions about the structure of a TensorFlow graph."""


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
