"""Pages fetched ahead: the next pages of a query are in flight while the caller works
through the current one, so a big read costs max(I/O, CPU) instead of their sum (issue 11).
Paging stays sequential (a page's token or locator comes with the page before it)."""
from __future__ import annotations

import queue
import threading
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")
_END = object()


def read_ahead(first: T, fetch_next: Callable[[T], T | None], depth: int = 1) -> Iterator[T]:
    """Yields `first`, then each page `fetch_next(previous)` returns until it returns None.
    At most `depth` pages are fetched beyond the one the caller holds; a fetch's exception is
    raised where its page would have come. A caller that stops early stops the fetching."""
    slots = threading.Semaphore(depth)
    pages: queue.Queue = queue.Queue()
    stop = threading.Event()

    def produce(page: T) -> None:
        try:
            while True:
                while not slots.acquire(timeout=0.5):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                page = fetch_next(page)
                if page is None:
                    pages.put((_END, None))
                    return
                pages.put((page, None))
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
            pages.put((None, exc))

    worker = threading.Thread(target=produce, args=(first,), name="read-ahead", daemon=True)
    worker.start()
    try:
        yield first
        while True:
            page, error = pages.get()
            if error is not None:
                raise error
            if page is _END:
                return
            slots.release()  # the caller holds this page now: one more may be fetched
            yield page
    finally:
        stop.set()
