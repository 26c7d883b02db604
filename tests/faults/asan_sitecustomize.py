"""Installed as `sitecustomize` for the ASan run (tests/faults/sanitized.sh asan).

* chDB (the embedded engine) crashes under an ASan preload: it is hidden, so the
  embedded tests skip as on a machine without it (find_spec and import see None).
* The ASan runtime is preloaded for Python only: Python child processes (they load
  the instrumented extension) keep LD_PRELOAD, other programs the tests start
  (curl, clickhouse-server, nginx) get an environment without it.
"""
import os
import subprocess
import sys

sys.modules["chdb"] = None

_SAN_VARS = ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")
_popen_init = subprocess.Popen.__init__


def _is_python(args, executable):
    prog = executable or (args if isinstance(args, (str, bytes)) else args[0])
    prog = os.fsdecode(prog).split()[0] if isinstance(prog, (str, bytes)) else str(prog)
    return prog == sys.executable or os.path.basename(prog).startswith("python")


def _init(self, args, *a, **kw):
    executable = kw.get("executable")
    if not _is_python(args, executable):
        env = dict(kw.get("env") if kw.get("env") is not None else os.environ)
        for k in _SAN_VARS:
            env.pop(k, None)
        kw["env"] = env
    _popen_init(self, args, *a, **kw)


subprocess.Popen.__init__ = _init
