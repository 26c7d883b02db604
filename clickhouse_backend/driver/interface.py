"""What a Connection and its cursors ask of a query engine: one declared interface,
implemented by the C engine (``_engine.Client`` / ``_engine.Stream``, over HTTP) and by
the embedded engine (``embedded.EmbeddedClient`` / ``EmbeddedStream``, chDB in-process).
The cursors use nothing else; tests/test_build.py checks both sides against it."""
from __future__ import annotations

import asyncio
import datetime
from typing import Any, Callable, Literal, Mapping, Protocol, Sequence, runtime_checkable

from .progress import Summary

Block = tuple  # (names, types, rows or columns): see _engine.pyi


@runtime_checkable
class ResultStream(Protocol):
    """The result of one query, handed out block by block (sync or asyncio)."""

    columnar: int  # how the next blocks are decoded (settable between blocks)

    @property
    def query_id(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def summary(self) -> str | Summary | None:
        """What the query did so far: a Summary, or the server's X-ClickHouse-Summary
        text (Summary.parse takes either); None before anything is known."""
    @property
    def raw(self) -> bytes | None: ...
    @property
    def progress(self) -> Any: ...
    @property
    def progress_seq(self) -> int: ...
    def redecode(self) -> Block | None: ...
    def next_block(self) -> Block | None: ...
    def next_block_progress(self, callback: Callable[[Any], object]) -> Block | None: ...
    def poll(self) -> Block | None | Literal[False]: ...
    def arm(self, fut: asyncio.Future[None]) -> None: ...
    def close(self) -> None: ...
    def cancel(self) -> None: ...
    @property
    def attempt(self) -> int:
        """Which attempt the last block taken came from (a read moves to another
        host until deliver()); the rows of an earlier attempt are dropped."""
    def deliver(self) -> bool: ...


@runtime_checkable
class QueryClient(Protocol):
    """Runs queries of one Connection; the Connection owns it and closes it."""

    # the defaults are the driver's (config.Options), not restated here
    # params: this query's URL parameters (settings), sent after the connection's;
    # headers: its own (name, value) pairs (Content-Encoding of a compressed body)
    def request(self, body: bytes, params: Mapping[str, str] | None = ..., query_id: str | None = ...,
                retryable: bool = ..., raw: bool = ..., notifier: Any = ..., query_timeout: float = ...,
                buffer_limit: int = ..., tz: datetime.tzinfo | None | Literal[False] = ...,
                strings_as_bytes: bool = ..., columnar: int = ...,
                headers: Sequence[tuple[str, str]] | None = ..., max_ratio: float = ...,
                max_block_bytes: int = ..., progress: bool = ...) -> ResultStream: ...
    def pool_stats(self) -> dict[str, int]: ...
    def close(self) -> None: ...
