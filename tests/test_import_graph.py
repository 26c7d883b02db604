"""No import loop among clickhouse_backend's modules (issue 18): the graph of
every import the package's code makes (at module level or inside a function,
as written, read from the source) has no cycle. A loop makes the import order
matter and is how backend/ and models/ came to know each other by duck typing."""
import ast
import pathlib

import clickhouse_backend

PACKAGE = pathlib.Path(clickhouse_backend.__file__).parent
ROOT = PACKAGE.parent


def _module_name(path, root=ROOT):
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(package=PACKAGE, root=ROOT):
    """{module: {modules it imports}} for the .py files under `package`."""
    files = {_module_name(p, root): p for p in package.rglob("*.py")}
    top = package.name
    graph = {}
    for name, path in files.items():
        is_pkg = path.name == "__init__.py"
        edges = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_pkg else name.split(".")[:-1]
                    base = base[:len(base) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module
                # `from pkg import sub` imports the submodule sub.
                targets = ["%s.%s" % (module, a.name) if "%s.%s" % (module, a.name) in files
                           else module for a in node.names]
            else:
                continue
            edges.update(t for t in targets if t in files and t != name and t.split(".")[0] == top)
    return graph


def cycles(graph):
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_loop():
    assert cycles(import_graph()) == []


def test_a_loop_is_seen(tmp_path):
    # The check above would pass vacuously if it could not see one.
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from pkg import c\n")
    (pkg / "c.py").write_text("from . import a\n")
    assert cycles(import_graph(pkg, tmp_path)) == [["pkg.a", "pkg.c", "pkg.sub.b"]]



def test_shared_leaves_import_nothing_of_the_package():
    # backend/features.py and tables/ are what backend/ and models/ both
    # import: they must not import either back.
    graph = import_graph()
    leaves = ["clickhouse_backend.backend.features", "clickhouse_backend.tables",
              "clickhouse_backend.tables.engines", "clickhouse_backend.tables.indexes"]
    assert {m: sorted(graph[m]) for m in leaves} == {m: [] for m in leaves}
