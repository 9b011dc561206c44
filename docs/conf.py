"""Sphinx configuration of the iba_tf API reference (``make docs``).

The build runs with ``-W --keep-going`` and ``nitpicky = True``: a broken cross-reference, a
malformed docstring, a documented public name without a docstring, or a public name (one in
the ``__all__`` of a module in ``CHECKED_MODULES``) that no page documents is an error.
"""
import importlib
import inspect
import os
import sys

from sphinx.util import logging
from sphinx.util.docstrings import prepare_docstring

sys.path.insert(0, os.path.abspath(".."))

project = "iba-tf"
author = "iba-tf developers"
copyright = "iba-tf developers"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
# The .md pages' headings are linked by their text; "#section" anchors make no extra targets.
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]

html_theme = "alabaster"
html_static_path = []

# --- autodoc / napoleon --------------------------------------------------------------------
autodoc_default_options = {
    "members": True,
    "undoc-members": True,  # so that an undocumented public member reaches the check below
    "show-inheritance": True,
}
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the docstrings say the types (Google style)
# The PyTorch port needs torch, which the Python 3.7 TensorFlow venv does not have.
autodoc_mock_imports = ["torch", "torchvision"]
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
# "Attributes:" sections become :ivar: fields; as attribute directives they would duplicate the
# attributes that undoc-members documents.
napoleon_use_ivar = True

# --- cross-references ----------------------------------------------------------------------
# There is no internet in CI, so no intersphinx: references to other libraries' types cannot
# resolve. Napoleon turns the "Args:" types of the Google-style docstrings into references;
# the names below are the third-party and builtin-ish type names they use. Anything inside
# iba_tf must resolve.
nitpicky = True
_FOREIGN_TYPES = [
    # numpy
    "np.ndarray", "numpy.ndarray", "ndarray", "np.random.Generator", "np.dtype", "array",
    "array-like", "array_like", "np.float32",
    # TensorFlow / Keras
    "tf.Tensor", "tf.ConfigProto", "tf.Session", "tf.Graph", "tf.Variable", "tf.Operation", "tf.dtypes.DType",
    "tensorflow.Tensor", "Tensor", "keras.Model", "keras.models.Model", "keras.layers.Layer",
    "Model", "Layer", "Session", "Graph", "keras.engine.base_layer.Layer",
    "keras.engine.training.Model",
    # innvestigate
    "innvestigate.analyzer.base.AnalyzerBase", "AnalyzerBase",
    # PyTorch (mocked)
    "torch.Tensor", "torch.nn.Module", "nn.Module", "torch.device", "torch.utils.data.DataLoader",
    "torch.nn.modules.module.Module", "nn.Sequential", "torch.nn.Sequential", "torchvision.datasets.ImageFolder", "Module",
    # matplotlib, dask, h5py, tqdm, pathlib
    "matplotlib.axes.Axes", "plt.Axes", "Axes", "matplotlib.figure.Figure", "Figure",
    "dask.distributed.Client", "distributed.Client", "h5py.File", "tqdm.tqdm", "pathlib.Path",
    "os.PathLike", "Path",
    # the builtin types (no intersphinx to the Python docs either)
    "int", "float", "bool", "str", "bytes", "list", "tuple", "dict", "set", "callable",
    "None", "object", "iterable", "sequence", "optional", "function", "generator", "Iterable",
    "Iterator", "Sequence", "Callable", "Exception", "ValueError", "TypeError", "KeyError",
    "ImportError", "RuntimeError", "FileNotFoundError", "OSError", "IndexError",
    "NotImplementedError", "AttributeError",
]
nitpick_ignore = [(role, name) for role in ("py:class", "py:exc", "py:obj")
                  for name in _FOREIGN_TYPES]
# show-inheritance names private base classes (e.g. a shared ``_TFAnalyzer``), which are not
# documented on purpose.
nitpick_ignore_regex = [("py:class", r"iba_tf(\.\w+)*\._\w+")]

# --- every public name has a docstring and a page ------------------------------------------
# The modules whose ``__all__`` the reference must cover. A public name counts as documented
# when some page documents the same object (under any path: ``iba_tf.IBALayer`` covers
# ``iba_tf.tensorflow_v1.IBALayer``), so pages survive modules moving.
CHECKED_MODULES = [
    "iba_tf",
    "iba_tf.tensorflow_v1",
    "iba_tf.evaluation",
    "iba_tf.dataset",
    "iba_tf.baselines",
    "iba_tf.images",
    "iba_tf.smoothing",
    "iba_tf.utils",
    "iba_tf.saliency",
    "iba_tf.welford",
    "iba_tf.pytorch",
]

_logger = logging.getLogger("iba_tf.docs")
_documented_ids = set()
_documented_names = set()
_read_docs = set()


def _is_type_docstring(obj, lines):
    type_doc = getattr(type(obj), "__doc__", None)
    if not isinstance(type_doc, str):
        return False
    given = [line.strip() for line in lines if line.strip()]
    return given == [line.strip() for line in prepare_docstring(type_doc) if line.strip()]


def _warn_missing_docstring(app, what, name, obj, options, lines):
    """Warns (an error under ``-W``) for a public name whose docstring is empty."""
    _documented_ids.add(id(obj))
    _documented_names.add(name)
    if what in ("data", "attribute") and _is_type_docstring(obj, lines):
        # A constant without a ``#:`` comment gets its type's docstring (dict's, tuple's...).
        del lines[:]
    if any(line.strip() for line in lines):
        return
    last = name.rsplit(".", 1)[-1]
    if last.startswith("_") or what == "module":
        return
    hint = " (add a #: comment above it)" if what in ("data", "attribute") else ""
    _logger.warning("%s %s has no docstring%s", what, name, hint, type="iba_tf",
                    subtype="docstring")


def _note_docs_to_read(app, env, docnames):
    _read_docs.update(docnames)


def _same_object_documented(module, public):
    obj = getattr(module, public, None)
    # Scalars and None are shared objects: only their name can say they are documented.
    if obj is None or isinstance(obj, (bool, int, float, str, bytes)):
        return False
    return id(obj) in _documented_ids


def _check_public_names(app, env):
    """Warns for each name in a checked module's ``__all__`` that no page documents."""
    if _read_docs != set(env.found_docs):
        # An incremental build read only some pages; ``make docs`` passes -E (reads all).
        _logger.info("public-name check skipped: not every page was read (build with -E)")
        return
    for module_name in CHECKED_MODULES:
        try:
            module = importlib.import_module(module_name)
        except Exception as error:  # noqa: BLE001 - reported as a build error
            _logger.warning("cannot import %s to check its public names: %s", module_name,
                            error, type="iba_tf", subtype="coverage")
            continue
        for public in getattr(module, "__all__", []):
            qualified = module_name + "." + public
            if qualified in _documented_names or _same_object_documented(module, public):
                continue
            _logger.warning("public name %s (in %s.__all__) is on no API page", qualified,
                            module_name, type="iba_tf", subtype="coverage")


def _mocked_base_signature(app, what, name, obj, options, signature, return_annotation):
    """Gives a class that subclasses a mocked torch class the signature of its ``__init__``.

    Sphinx's mock class has ``__new__(*args, **kwargs)``, which autodoc would show instead.
    """
    if what != "class" or signature != "(*args, **kwargs)" or "__init__" not in vars(obj):
        return None
    init = inspect.signature(vars(obj)["__init__"])
    own = list(init.parameters.values())[1:]  # without self
    return str(init.replace(parameters=own, return_annotation=inspect.Signature.empty)), \
        return_annotation


def setup(app):
    app.connect("autodoc-process-signature", _mocked_base_signature)
    app.connect("autodoc-process-docstring", _warn_missing_docstring)
    app.connect("env-before-read-docs", _note_docs_to_read)
    app.connect("env-check-consistency", _check_public_names)
