"""The package's import graph: no module of iba_tf imports itself back through others.

The graph is read from the source with ``ast``, so nothing is imported: an import at module
level and one inside a function both count (a function-level import only hides a cycle until
the function runs), and relative imports are resolved against the importing module.
"""
import ast
import os

import pytest

PACKAGE = "iba_tf"
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, PACKAGE)


def _modules(root=ROOT, package=PACKAGE):
    """{module name: path} for every .py file of the package (``__init__`` as the package)."""
    modules = {}
    for folder, _, files in os.walk(root):
        relative = os.path.relpath(folder, root)
        parts = [package] + ([] if relative == "." else relative.split(os.sep))
        for name in files:
            if name.endswith(".py"):
                stem = name[:-3]
                modules[".".join(parts if stem == "__init__" else parts + [stem])] = \
                    os.path.join(folder, name)
    return modules


def _resolve(importer, is_package, level, module):
    """The absolute name of ``from <level dots><module> import ...`` in ``importer``."""
    if level == 0:
        return module
    base = importer.split(".")
    base = base[:len(base) - level + (1 if is_package else 0)]
    return ".".join(base + ([module] if module else []))


def _imports(name, path, modules, package=PACKAGE):
    """The package modules that the module ``name`` imports, anywhere in its source."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    is_package = path.endswith("__init__.py")
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, is_package, node.level, node.module)
            # "from . import x": the submodule x if there is one, else a name of the package
            targets = ["{}.{}".format(base, alias.name) if "{}.{}".format(
                base, alias.name) in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            # "import a.b.c" also runs a/__init__ and a/b/__init__; their own imports are
            # edges of theirs, so a cycle through them is still found
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target.split(".")[0] == package and target != name:
                found.add(target)
    return found


def import_graph(root=ROOT, package=PACKAGE):
    """{module: set of package modules it imports}."""
    modules = _modules(root, package)
    return {name: _imports(name, path, modules, package) for name, path in modules.items()}


def find_cycle(graph):
    """One import cycle as a list of module names (first == last), or None."""
    state = {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for child in sorted(graph.get(node, ())):
            if state.get(child) == "open":
                return stack[stack.index(child):] + [child]
            if child not in state:
                cycle = visit(child, stack)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node, [])
            if cycle:
                return cycle
    return None


def test_the_graph_reader_sees_every_kind_of_import(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .sub import b\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "b.py").write_text("def f():\n    from ..c import x\n")
    (package / "c.py").write_text("import pkg.a\nfrom . import sub\n")
    graph = import_graph(str(package), "pkg")
    assert graph["pkg.a"] == {"pkg.sub.b"} and graph["pkg.sub.b"] == {"pkg.c"}
    assert graph["pkg.c"] == {"pkg.a", "pkg.sub"}
    assert find_cycle(graph) == ["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]
    (package / "c.py").write_text("x = 1\n")
    assert find_cycle(import_graph(str(package), "pkg")) is None


def test_iba_tf_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    if cycle:
        pytest.fail("import cycle in iba_tf: " + " -> ".join(cycle))


# The house limits: a longer module or function is a sign that it holds more than one concept.
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _oversized(modules):
    """(module lines over the limit, functions over the limit) as readable strings."""
    long_modules, long_functions = [], []
    for name, path in sorted(modules.items()):
        with open(path) as source:
            text = source.read()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            long_modules.append("{} ({} lines)".format(name, len(text.splitlines())))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                # Python 3.7's ast has no end_lineno: the function ends where its last
                # statement's subtree ends
                end = max(getattr(n, "lineno", node.lineno) for n in ast.walk(node))
                length = end - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append("{}.{} ({} lines)".format(name, node.name, length))
    return long_modules, long_functions


def test_the_size_check_sees_a_long_function(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    body = "\n".join("    x = {}".format(i) for i in range(MAX_FUNCTION_LINES + 5))
    (package / "big.py").write_text("def f():\n" + body + "\n")
    modules = _modules(str(package), "pkg")
    assert _oversized(modules) == ([], ["pkg.big.f ({} lines)".format(MAX_FUNCTION_LINES + 6)])


def test_no_module_or_function_of_iba_tf_is_oversized():
    long_modules, long_functions = _oversized(_modules())
    assert not long_modules, "modules over {} lines: {}".format(MAX_MODULE_LINES, long_modules)
    assert not long_functions, "functions over {} lines: {}".format(
        MAX_FUNCTION_LINES, long_functions)
