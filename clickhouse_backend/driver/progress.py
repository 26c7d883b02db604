"""What a query did and is doing: :class:`Progress` (live updates) and
:class:`Summary` (``cursor.summary``).

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

# The counters ClickHouse reports (ProgressValues::writeJSON), in its order.
FIELDS = ("read_rows", "read_bytes", "written_rows", "written_bytes", "total_rows_to_read", "result_rows",
          "result_bytes", "elapsed_ns")


def _values(data):
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


def _counters(name, default):
    """A frozen dataclass of FIELDS, each `default` unless given."""
    return dataclasses.make_dataclass(name, [(f, "int | None", dataclasses.field(default=default)) for f in FIELDS],
                                      frozen=True)


class Progress(_counters("Progress", 0)):
    """One progress update. Counts are cumulative since the query began; the server
    raises ``total_rows_to_read`` while it runs (more parts or subqueries found), so
    ``fraction`` may go down as well as up. 0 where the server sent nothing."""

    __slots__ = ()

    @classmethod
    def parse(cls, data):
        """From X-ClickHouse-Progress JSON text or chDB's progress dict."""
        v = _values(data)
        return cls(**{f: v.get(f, 0) for f in FIELDS})

    @property
    def fraction(self):
        """read_rows / total_rows_to_read (at most 1.0), None while the total is unknown."""
        if not self.total_rows_to_read:
            return None
        return min(self.read_rows / self.total_rows_to_read, 1.0)


class Summary(_counters("Summary", None)):
    """What the last query did, as far as it is known: a field the server did not
    send (18.16 sends no summary at all) is None; false when nothing is known."""

    __slots__ = ()

    @classmethod
    def parse(cls, data):
        """From X-ClickHouse-Summary JSON text or a dict (None: nothing known)."""
        if data is None:
            return UNKNOWN
        v = _values(data)
        return cls(**{f: v.get(f) for f in FIELDS})

    def __bool__(self):
        return any(getattr(self, f) is not None for f in FIELDS)


UNKNOWN = Summary()
