"""Byte-level helpers for tests that write ClickHouse wire data by hand."""

from clickhouse_backend.driver.columnar_insert import varint  # noqa: E402,F401  (Native's LEB128)
