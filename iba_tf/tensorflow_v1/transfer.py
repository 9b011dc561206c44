"""Copying variable values from the original session into a graph copy's session.

Used by :class:`~iba_tf.IBACopy`: values go through numpy, in groups of about
``TRANSFER_BYTES`` (one session run per group), and variables larger than that in slices
of rows.
"""
import numpy as np

from .compat import tf

__all__ = ["Transfer", "copy_variables", "transfer_groups", "TRANSFER_BYTES"]

# update_variables copies the variables in groups of about this many bytes.
TRANSFER_BYTES = 64 * 2 ** 20


class Transfer:
    """Copies one variable's value from the original session into the copy, through numpy.

    A variable larger than TRANSFER_BYTES goes in pieces of rows (slices of its first axis),
    each at most TRANSFER_BYTES, into a copy allocated once: so numpy never holds more than
    one group at a time (VGG16's 411 MB fc1 kernel would otherwise sit in memory a third time
    while it is copied). The slices are the only ops IBACopy adds to the original graph, once,
    for such large variables; they read and never write.
    """

    def __init__(self, original_op, original_value, copy_variable, copy_graph):
        self.name = original_op.name
        dtype = tf.as_dtype(original_op.get_attr("dtype"))
        shape = tf.TensorShape(original_op.get_attr("shape"))
        # an IBALayer's alpha in a copied tail has a varying first dimension: count it as 0
        self.nbytes = dtype.size * (shape.num_elements() or 0)
        resource = copy_variable.dtype == tf.resource
        with copy_graph.as_default():
            copy_value = (tf.raw_ops.ReadVariableOp(resource=copy_variable, dtype=dtype)
                          if resource else copy_variable)
        rows = tf.dimension_value(shape[0]) if shape.ndims else None
        n_pieces = min(rows or 1, -(-self.nbytes // TRANSFER_BYTES) or 1)
        if n_pieces == 1:
            self.allocation = None
            with copy_graph.as_default():
                placeholder = tf.placeholder(dtype, shape)
                assign = (tf.raw_ops.AssignVariableOp(resource=copy_variable, value=placeholder)
                          if resource else tf.raw_ops.Assign(ref=copy_variable, value=placeholder))
            self.pieces = [_Piece(self, self.nbytes, original_value, copy_value, placeholder,
                                  assign)]
            return
        bounds = np.linspace(0, rows, n_pieces + 1).round().astype(int)
        with copy_graph.as_default(), tf.name_scope("transfer"):
            self.allocation = _Allocation(copy_variable, dtype, shape, resource)
            self.pieces = []
            for start, stop in zip(bounds[:-1], bounds[1:]):
                begin, end, strides = [int(start)], [int(stop)], [1]
                placeholder = tf.placeholder(dtype, [stop - start] + shape[1:].as_list())
                if resource:
                    # ResourceStridedSliceAssign would put the variable in copy-on-read mode
                    # for good (every later read copies all of it); the read aliases the
                    # variable's buffer, and InplaceUpdate writes the rows into it.
                    assign = tf.raw_ops.InplaceUpdate(
                        x=tf.raw_ops.ReadVariableOp(resource=copy_variable, dtype=dtype),
                        i=np.arange(start, stop, dtype=np.int32), v=placeholder).op
                else:
                    assign = tf.raw_ops.StridedSliceAssign(
                        ref=copy_variable, begin=begin, end=end, strides=strides,
                        value=placeholder)
                self.pieces.append(_Piece(
                    self, self.nbytes * (stop - start) // rows,
                    _original_rows(original_value, begin, end, strides),
                    tf.strided_slice(copy_value, begin, end, strides), placeholder, assign))


def _original_rows(value, begin, end, strides):
    with value.graph.as_default(), tf.name_scope(None), tf.name_scope("iba_copy_transfer"):
        return tf.strided_slice(value, begin, end, strides)


class _Allocation:
    """Gives an uninitialised copy variable its memory (zeros) before it receives pieces.

    The shape is fed so that the zeros cannot be folded into a constant that would stay in
    memory; the zeros' buffer becomes the variable's, no copy.
    """

    def __init__(self, copy_variable, dtype, shape, resource):
        self._shape = shape.as_list()
        self._shape_placeholder = tf.placeholder(tf.int64, [len(self._shape)])
        zeros = tf.fill(self._shape_placeholder, tf.constant(0, dtype))
        if resource:
            self.is_initialized = tf.raw_ops.VarIsInitializedOp(resource=copy_variable)
            self._assign = tf.raw_ops.AssignVariableOp(resource=copy_variable, value=zeros)
        else:
            self.is_initialized = tf.raw_ops.IsVariableInitialized(ref=copy_variable)
            self._assign = tf.raw_ops.Assign(ref=copy_variable, value=zeros)

    @staticmethod
    def run(allocations, copy_session):
        """Allocates those of ``allocations`` whose variables are not yet initialised."""
        if not allocations:
            return
        initialized = copy_session.run([a.is_initialized for a in allocations])
        for allocation, done in zip(allocations, initialized):
            if not done:        # one at a time: never two fresh buffers at once
                copy_session.run(allocation._assign,
                                 {allocation._shape_placeholder: allocation._shape})


class _Piece:
    """All of a variable, or a slice of its rows, with the ops that read and assign it."""

    def __init__(self, transfer, nbytes, original_value, copy_value, placeholder, assign):
        self.transfer = transfer
        self.nbytes = nbytes
        self.original_value = original_value
        self.copy_value = copy_value
        self._placeholder = placeholder
        self._assign = assign

    @staticmethod
    def run_group(pieces, original_session, copy_session):
        """Copies the current values of ``pieces``: one run to read, one to assign."""
        values = original_session.run([p.original_value for p in pieces])
        copy_session.run([p._assign for p in pieces],
                         {p._placeholder: v for p, v in zip(pieces, values)})


def transfer_groups(transfers):
    """The variables (or slices of large ones) of ``transfers`` in groups of up to
    TRANSFER_BYTES: one session run per group (a run per variable costs more than the copying
    for models of many small variables), while at most a group's values are held in numpy at
    once."""
    groups, group, size = [], [], 0
    for piece in (piece for transfer in transfers for piece in transfer.pieces):
        if size + piece.nbytes > TRANSFER_BYTES:
            groups.append(group)
            group, size = [], 0
        group.append(piece)
        size += piece.nbytes
    groups.append(group)
    return [g for g in groups if g]


def copy_variables(transfers, original_session, copy_session, local_names=()):
    """Copies the current values of every transfer's variable, group by group.

    Uninitialised variables whose names are in ``local_names`` (e.g. an IBALayer's state in a
    copied tail, assigned only while it analyzes) are skipped; any other raises RuntimeError.
    """
    _Allocation.run([t.allocation for t in transfers if t.allocation is not None],
                    copy_session)
    for group in transfer_groups(transfers):
        try:
            _Piece.run_group(group, original_session, copy_session)
            continue
        except tf.errors.FailedPreconditionError:
            pass
        for piece in group:      # find the uninitialised variable(s)
            try:
                _Piece.run_group([piece], original_session, copy_session)
            except tf.errors.FailedPreconditionError:
                if piece.transfer.name in local_names:
                    continue
                raise RuntimeError(
                    "The variable {} of the original model is not initialised in its "
                    "session; initialise the model first (Keras does when it first runs "
                    "the model, or run tf.global_variables_initializer()).".format(
                        piece.transfer.name)) from None
