"""The test-only extension clickhouse_backend._engine_testing (ext/testing/): bindings of
the engine's I/O-free parsers that only tests drive (HTTPResponseParser, Decompressor,
NativeScanner). setup.py builds it with CHB_TEST_EXT=1 (scripts/test.sh and
tests/faults/sanitized.sh set it); a test that needs it fails, never skips, without it."""
try:
    from clickhouse_backend import _engine_testing as testing
except ImportError as e:  # pragma: no cover - the message is the point
    raise ImportError("clickhouse_backend._engine_testing is not built: rebuild with "
                      "CHB_TEST_EXT=1 python setup.py build_ext --inplace") from e

__all__ = ["testing"]
