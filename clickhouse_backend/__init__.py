"""clickhouse_backend: Django backend and DB-API driver for ClickHouse.

The driver is ``clickhouse_backend.driver``; the Django ENGINE is
``clickhouse_backend.backend``; models and fields are in ``clickhouse_backend.models``.
"""
__version__ = "0.1.0"
