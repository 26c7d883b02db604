"""What a query did and is doing: :class:`Progress` (live updates) and
:class:`Summary` (``cursor.summary`` once the result is read).

Servers send both as JSON objects of decimal strings (X-ClickHouse-Progress while
the query runs, when ``send_progress_in_http_headers=1``; X-ClickHouse-Summary with
the answer); chDB hands its progress callback a dict of ints and its results carry
their own statistics. Either form is read here.
"""
from __future__ import annotations

import dataclasses
import json

# What a query asked for progress adds to its settings; nothing is sent otherwise.
PROGRESS_SETTINGS = {"send_progress_in_http_headers": 1}


def _values(data):
    if data is None:
        return {}
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except ValueError:
            return {}
        if not isinstance(data, dict):
            return {}
    out = {}
    for k, v in data.items():
        try:
            out[k] = int(v)
        except (TypeError, ValueError):
            pass  # a field this driver does not know the form of
    return out


@dataclasses.dataclass(frozen=True)
class Progress:
    """One progress update. Counts are cumulative since the query began; the server
    raises ``total_rows_to_read`` while it runs (more parts or subqueries found), so
    ``fraction`` may go down as well as up. 0 where the server sent nothing."""

    read_rows: int = 0
    read_bytes: int = 0
    total_rows_to_read: int = 0
    written_rows: int = 0
    written_bytes: int = 0
    result_rows: int = 0
    result_bytes: int = 0
    elapsed_ns: int = 0

    @classmethod
    def parse(cls, data):
        """From X-ClickHouse-Progress JSON text or chDB's progress dict."""
        v = _values(data)
        return cls(**{f.name: v.get(f.name, 0) for f in dataclasses.fields(cls)})

    @property
    def fraction(self):
        """read_rows / total_rows_to_read (at most 1.0), None while the total is unknown."""
        if not self.total_rows_to_read:
            return None
        return min(self.read_rows / self.total_rows_to_read, 1.0)


@dataclasses.dataclass(frozen=True)
class Summary:
    """What the last query did, as far as it is known: a field the server did not
    send (18.16 sends no summary at all) is None."""

    read_rows: int | None = None
    read_bytes: int | None = None
    written_rows: int | None = None
    written_bytes: int | None = None
    total_rows_to_read: int | None = None
    result_rows: int | None = None
    result_bytes: int | None = None
    elapsed_ns: int | None = None

    @classmethod
    def parse(cls, data):
        """From X-ClickHouse-Summary JSON text or a dict (None: nothing known)."""
        if data is None:
            return UNKNOWN
        v = _values(data)
        return cls(**{f.name: v.get(f.name) for f in dataclasses.fields(cls)})

    def __bool__(self):
        return any(getattr(self, f.name) is not None for f in dataclasses.fields(self))


UNKNOWN = Summary()
