"""Results stream block by block with backpressure: memory stays flat however
large the result, because the engine stops reading while the consumer is behind."""
import json
import subprocess
import sys
import time
import uuid

CHILD = r"""
import json, resource, sys
import clickhouse_backend.driver as chd
params = json.loads(sys.argv[1])
rows = int(sys.argv[2])
cur = chd.connect(**params).cursor()
cur.execute("SELECT number, toString(number) FROM numbers(1000)")
cur.fetchall()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
n = total = 0
cur.execute("SELECT number, toString(number), number * 0.5 FROM numbers(%d)" % rows)
for row in cur:
    n += 1
    total += row[0]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rows": n, "sum": total, "base_kb": base, "peak_kb": peak}))
"""


def run_child(server_params, rows):
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(server_params), str(rows)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_streaming_10_million_rows_keeps_memory_flat(server_params):
    rows = 10_000_000
    r = run_child(server_params, rows)
    assert r["rows"] == rows
    assert r["sum"] == rows * (rows - 1) // 2
    growth_mb = (r["peak_kb"] - r["base_kb"]) / 1024
    # Materialising 10M 3-tuples would take well over 1 GB; streaming needs the
    # engine's bounded buffer plus a block or two of Python objects.
    assert growth_mb < 150, f"peak RSS grew by {growth_mb:.0f} MB"


def test_engine_pauses_reading_when_consumer_is_behind(make_conn):
    conn = make_conn(stream_buffer_bytes=1 << 20, pool_name=uuid.uuid4().hex[:12])
    cur = conn.cursor()
    cur.execute("SELECT number, toString(number) FROM numbers(50000000)")
    deadline = time.monotonic() + 10
    while cur._stream.state != "paused" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cur._stream.state == "paused"
    # consuming resumes it, and the result is complete and in order
    expected = 0
    for row in cur:
        assert row[0] == expected
        expected += 1
        if expected == 3_000_000:
            break
    cur.close()


def test_block_larger_than_max_block_bytes_fails_and_frees_the_slot(make_conn):
    import clickhouse_backend.driver as chd

    conn = make_conn(max_block_bytes=64 << 10, pool_name=uuid.uuid4().hex[:12])
    cur = conn.cursor()
    # one block of 200,000 UInt64 values: 1.6 MB, over the 64 KiB cap
    try:
        cur.execute("SELECT number FROM numbers(200000)", settings={"max_block_size": 1000000})
        cur.fetchall()
    except chd.OperationalError as e:
        assert "max_block_bytes (65536 bytes)" in str(e)
    else:
        raise AssertionError("a block over max_block_bytes was accepted")
    deadline = time.monotonic() + 5
    while conn.pool_stats()["in_use"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert conn.pool_stats()["in_use"] == 0
    # small blocks under the cap: the same result arrives whole
    cur.execute("SELECT number FROM numbers(200000)", settings={"max_block_size": 1000})
    assert [r[0] for r in cur.fetchall()] == list(range(200000))


def test_max_block_bytes_validated():
    import pytest

    import clickhouse_backend.driver as chd

    with pytest.raises(chd.InterfaceError, match="max_block_bytes"):
        chd.connect(host="127.0.0.1", max_block_bytes=-1)
