"""django-clickhouse-backend's driver-level API on our cursor (issue 13 §1):
set_query_execution_args(columnar=, use_numpy=), connections_min/connections_max in
connect(), and clickhouse-driver's execute("INSERT ... VALUES", rows). Server and
embedded here; async_tests/test_dropin_cursor.py is the async twin."""
import sys

import pytest

import clickhouse_backend.driver as chd
from tests.embedded_support import EMBEDDED, requires_chdb

SELECT = "SELECT number AS n, toString(number) AS s, toInt8(number - 2) AS i FROM numbers(%s)"


@pytest.fixture(params=["server", pytest.param("embedded", marks=requires_chdb)])
def target(request, server_params, scratch_db):
    if request.param == "server":
        return chd.connect(**server_params), scratch_db
    cur = chd.connect(embedded=EMBEDDED).cursor()
    cur.execute("CREATE DATABASE IF NOT EXISTS dropin")
    return chd.connect(embedded=EMBEDDED), "dropin"


def test_columnar_results(target):
    conn, _ = target
    cur = conn.cursor()
    cur.set_query_execution_args(columnar=True)
    cur.execute(SELECT, [4], settings={"max_block_size": 3})  # two blocks, gathered per column
    assert cur.fetchall() == [(0, 1, 2, 3), ("0", "1", "2", "3"), (-2, -1, 0, 1)]
    assert cur.rowcount == 4
    cur.set_query_execution_args(columnar=False)
    cur.execute(SELECT, [2])
    assert cur.fetchall() == [(0, "0", -2), (1, "1", -1)]


def test_numpy_columns(target):
    np = pytest.importorskip("numpy")
    conn, _ = target
    cur = conn.cursor()
    cur.set_query_execution_args(columnar=True, use_numpy=True)
    cur.execute(SELECT, [5])
    n, s, i = cur.fetchall()
    assert n.dtype == np.uint64 and i.dtype == np.int8 and s.dtype == object
    assert n.tolist() == [0, 1, 2, 3, 4] and i.tolist() == [-2, -1, 0, 1, 2] and s.tolist() == list("01234")


def test_use_numpy_without_numpy_is_a_clear_error(server_params, monkeypatch):
    monkeypatch.setitem(sys.modules, "numpy", None)  # what a missing package looks like to import
    with pytest.raises(chd.NotSupportedError, match="pip install numpy"):
        chd.connect(**server_params).cursor().set_query_execution_args(columnar=True, use_numpy=True)


def test_connections_min_max_as_in_databases_options():
    assert chd.connect(connections_min=2, connections_max=5)._options.pool_size == 5
    with pytest.raises(chd.InterfaceError):
        chd.connect(connections_min=6, connections_max=5)
    with pytest.raises(chd.InterfaceError):
        chd.connect(connections_max=5, pool_size=6)


def test_insert_values_with_rows_and_columns(target):
    conn, db = target
    cur = conn.cursor()
    cur.execute(f"DROP TABLE IF EXISTS {db}.ins")
    cur.execute(f"CREATE TABLE {db}.ins (a Int64, b String, c UInt8) ENGINE = Memory")
    cur.execute(f"INSERT INTO {db}.ins (a, b, c) VALUES", [(1, "x", 0), (-2 ** 63, "y'", 255)])
    assert cur.rowcount == 2
    cur.set_query_execution_args(columnar=True)
    cur.execute(f"INSERT INTO {db}.ins (a, b, c) VALUES", [(2 ** 63 - 1, 3), ("z", "w"), (1, 2)])
    with pytest.raises(chd.DataError, match="row 1, column 'c'"):  # checked like executemany
        cur.execute(f"INSERT INTO {db}.ins (a, b, c) VALUES", [(5, 6), ("p", "q"), (1, 300)])
    with pytest.raises(chd.DataError, match="row 0, column 'a'"):
        cur.executemany(f"INSERT INTO {db}.ins VALUES", [(2 ** 70,), ("p",), (1,)])
    cur.set_query_execution_args(columnar=False)
    cur.execute(f"SELECT a, b, c FROM {db}.ins ORDER BY a")
    assert cur.fetchall() == [(-2 ** 63, "y'", 255), (1, "x", 0), (3, "w", 2), (2 ** 63 - 1, "z", 1)]
