"""Small framework-free helpers shared by every part of iba_tf."""
import numpy as np

__all__ = ["ifnone", "get_tqdm", "to_unit_interval"]


def ifnone(a, b):
    """Returns ``b`` if ``a`` is None, else ``a``.

    Unlike ``a or b`` this keeps falsy values such as ``0`` and ``False``.

    Example:
        >>> ifnone(0, 10)
        0
        >>> ifnone(None, 10)
        10
    """
    return b if a is None else a


def get_tqdm():
    """Returns the ``tqdm`` progress bar class.

    ``tqdm.auto`` picks the notebook widget inside Jupyter and the text bar elsewhere; where the
    auto module cannot be imported, the plain text bar is returned.
    """
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm.auto exists in every supported tqdm
        from tqdm import tqdm
    return tqdm


def to_unit_interval(x):
    """Scales ``x`` linearly to ``[0, 1]``; a constant array becomes all zeros.

    Example:
        >>> to_unit_interval(np.array([2., 4., 6.]))
        array([0. , 0.5, 1. ])
    """
    x = np.asarray(x, dtype=np.float64)
    span = x.max() - x.min()
    if span == 0:
        return np.zeros_like(x)
    return (x - x.min()) / span
