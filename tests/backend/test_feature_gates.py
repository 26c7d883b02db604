"""Every server-version decision of the backend is a named flag of
backend/features.py (issue 18): a raw comparison with ``server_version``
anywhere else in the package fails here, and every flag a field, function or
aggregate names exists and carries the release it needs."""
import ast
import pathlib

import pytest

import clickhouse_backend
from clickhouse_backend.backend.features import DatabaseFeatures

PACKAGE = pathlib.Path(clickhouse_backend.__file__).parent
FEATURES = PACKAGE / "backend" / "features.py"


def _mentions_server_version(node):
    return any(
        (isinstance(n, ast.Attribute) and "server_version" in n.attr)
        or (isinstance(n, ast.Name) and "server_version" in n.id)
        for n in ast.walk(node))


def _raw_comparisons(path, root=PACKAGE.parent):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(
                _mentions_server_version(side) for side in [node.left, *node.comparators]):
            yield "%s:%d" % (path.relative_to(root), node.lineno)


def test_no_raw_version_comparison_outside_features():
    found = [hit for path in sorted(PACKAGE.rglob("*.py")) if path != FEATURES
             for hit in _raw_comparisons(path)]
    assert found == []


def test_the_scan_sees_a_raw_comparison(tmp_path):
    # The check above would pass vacuously if it could not see one.
    probe = tmp_path / "probe.py"
    probe.write_text("def f(connection, v):\n"
                     "    return connection.server_version >= (20, 1) or v < connection.server_version\n")
    assert list(_raw_comparisons(probe, tmp_path)) == ["probe.py:2"] * 2


def _named_flags():
    from clickhouse_backend import models
    from clickhouse_backend.backend import django_functions  # noqa: F401 (the REGISTRY's flags)

    names = set()
    for module in (models, models.aggregates, models.functions):
        for value in vars(module).values():
            flag = getattr(value, "requires", None)
            if isinstance(value, type) and isinstance(flag, str):
                names.add((value.__name__, flag))
    return sorted(names)


@pytest.mark.parametrize("owner,flag", _named_flags())
def test_named_flags_exist_with_a_version(owner, flag):
    prop = getattr(DatabaseFeatures, flag)
    assert isinstance(prop.version, tuple) and prop.version > (18, 16), (owner, flag)
