"""Lets clickhouse-connect connect to ClickHouse 18.16.

clickhouse-connect's client initialisation reads
``SELECT name, value, readonly FROM system.settings``; 18.16 has no ``readonly``
column there, so every client creation fails with "Unknown identifier: readonly"
(sync and async alike). This rewrites that one start-up query to
``toUInt8(0) AS readonly``. Nothing on the query, fetch or insert path is touched,
so the timings are clickhouse-connect's own. Importing this module is a no-op for
servers that have the column (the rewritten query is valid everywhere).
"""
import dataclasses

from clickhouse_connect.driver import asyncclient as _asyncclient
from clickhouse_connect.driver import client as _client
from clickhouse_connect.driver._backend import orchestration as _orchestration

_original = _orchestration.init_sequence
_QUERY = "SELECT name, value, readonly FROM system.settings"


def init_sequence(config):
    # init_sequence is a generator of operations driven by the client; forward
    # everything, rewriting only the settings query.
    gen = _original(config)
    try:
        op = gen.send(None)
        while True:
            if getattr(op, "text", "").startswith(_QUERY):
                op = dataclasses.replace(op, text=op.text.replace("readonly", "toUInt8(0) AS readonly", 1))
            try:
                value = yield op
            except BaseException as e:  # noqa: BLE001 - re-raised inside the original generator
                op = gen.throw(e)
                continue
            op = gen.send(value)
    except StopIteration as stop:
        return stop.value


_client.init_sequence = init_sequence
_asyncclient.init_sequence = init_sequence
