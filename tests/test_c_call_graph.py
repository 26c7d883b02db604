"""No call loop among the C files of ext/ (issue 18; docs/architecture.md, "The C call
graph"). The graph comes from the object files: a file calls another when one of its
undefined symbols (`nm`) is defined there. Calls through a function pointer (a
connection's ops, the pool's upcall table) are no edges: that is the point of them."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXT = ROOT / "ext"


def _fresh_objects():
    """ext/*.o of the last in-place build if every one is newer than the sources."""
    sources = sorted(EXT.glob("*.c"))
    newest_header = max(h.stat().st_mtime for h in EXT.glob("*.h"))
    for temp in sorted((ROOT / "build").glob("temp*/ext")):
        objs = {s: temp / (s.stem + ".o") for s in sources}
        if all(o.exists() and o.stat().st_mtime >= max(s.stat().st_mtime, newest_header) for s, o in objs.items()):
            return objs
    return None


def _objects(tmp_path):
    objs = _fresh_objects()
    if objs:
        return objs
    out = subprocess.run([sys.executable, "setup.py", "build_ext", "-b", str(tmp_path / "b"), "-t", str(tmp_path / "t")],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return {s: next((tmp_path / "t").rglob(f"ext/{s.stem}.o")) for s in sorted(EXT.glob("*.c"))}


def call_graph(objs):
    """{file.c: {files.c it calls}} from the symbols each object defines and needs."""
    defined, needed = {}, {}
    for src, obj in objs.items():
        d, u = set(), set()
        for line in subprocess.run(["nm", str(obj)], capture_output=True, text=True, check=True).stdout.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in "TDBRC":
                d.add(parts[2])
            elif len(parts) == 2 and parts[0] == "U":
                u.add(parts[1])
        defined[src.name], needed[src.name] = d, u
    owner = {sym: f for f, syms in defined.items() for sym in syms}
    return {f: {owner[s] for s in needed[f] if s in owner} - {f} for f in defined}


def find_cycle(graph):
    """One cycle as a list of nodes (first == last), or None."""
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_find_cycle_sees_a_loop_through_three_files():
    g = {"a.c": {"b.c"}, "b.c": {"c.c"}, "c.c": {"a.c", "d.c"}, "d.c": set()}
    assert find_cycle(g) == ["a.c", "b.c", "c.c", "a.c"]
    g["c.c"] = {"d.c"}
    assert find_cycle(g) is None


@pytest.mark.skipif(not shutil.which("nm"), reason="needs nm (binutils)")
def test_no_call_loop_among_ext_files(tmp_path):
    graph = call_graph(_objects(tmp_path))
    assert len(graph) == len(list(EXT.glob("*.c")))
    # the graph is real: the layers the docs draw are there
    assert "pool.c" in graph["exchange.c"] and "hosts.c" in graph["exchange.c"]
    assert "pool.c" in graph["hosts.c"] and "native_decode.c" in graph["native_buffers.c"]
    cycle = find_cycle(graph)
    assert cycle is None, "call loop among ext/ files: " + " -> ".join(cycle)
