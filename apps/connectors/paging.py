"""Reading ahead: the next page of a listing is fetched while the caller works on this one.

A run reads Zammad's and Kimai's pages and plans, reconciles and writes what they hold; waiting
for each page only once the last one is done leaves both servers idle in turn. :func:`read_ahead`
runs a page iterator on a thread of its own, at most ``depth`` pages ahead (memory stays
bounded), through the same :class:`~apps.connectors.http.OutboundHttpClient`, so the requests
stay within the connection's adaptive limit. Errors reach the caller where the page would have.

Use it only where the caller reads to the end (or nearly): a caller that stops early has made
up to ``depth`` requests it did not need.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()


def read_ahead(pages: Iterator[T], depth: int = 1) -> Generator[T, None, None]:
    """Yield what ``pages`` yields, fetching up to ``depth`` items ahead on another thread."""
    ready: queue.Queue[tuple[object, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(kind: object, value: object) -> bool:
        while not stop.is_set():
            try:
                ready.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def fetch() -> None:
        try:
            for page in pages:
                if not hand_over("page", page):
                    return
        except BaseException as error:  # handed to the caller, raised there
            hand_over("error", error)
            return
        hand_over(_END, None)

    thread = threading.Thread(target=fetch, name="read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = ready.get()
            if kind is _END:
                return
            if kind == "error":
                assert isinstance(value, BaseException)
                raise value
            yield value  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=5)
