"""The exception for bad user input, shared by the library and the ``iba-tf`` command."""

__all__ = ["InputError"]


class InputError(ValueError):
    """Bad input from the user: names the bad value, what was expected and the fix.

    The library raises it (a model file that does not load, an unknown layer, a target out of
    range, a hyperparameter out of its range, ...); the ``iba-tf`` command prints it as one
    line on stderr and exits with code 2. It is a ``ValueError``, so code that catches
    ``ValueError`` keeps working.
    """
