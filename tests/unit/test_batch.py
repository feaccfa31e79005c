"""The read-ahead of batch inference (`prefetched`): order, errors in place, bounded, stops with its consumer."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from mlops_pipeline.batch import prefetched


class Source:
    """A generator-like source that records how far it was read and whether it was closed."""

    def __init__(self, n: int, fail_at: int | None = None):
        self.n, self.fail_at = n, fail_at
        self.produced = 0
        self.closed = threading.Event()
        self.threads: set[str] = set()

    def __iter__(self) -> Iterator[int]:
        return self.items()

    def items(self) -> Iterator[int]:
        try:
            for index in range(self.n):
                self.threads.add(threading.current_thread().name)
                if index == self.fail_at:
                    raise ValueError(f"bad block {index} (rows {index * 10}..{index * 10 + 9})")
                self.produced += 1
                yield index
        finally:
            self.closed.set()


def _prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "prefetch"]


@pytest.mark.parametrize("n", [0, 1, 2, 7])
@pytest.mark.parametrize("depth", [1, 2, 5])
def test_items_arrive_in_order_from_another_thread(n: int, depth: int) -> None:
    source = Source(n)
    assert list(prefetched(source, depth)) == list(range(n))
    assert source.closed.is_set() and not _prefetch_threads()
    assert source.threads <= {"prefetch"}  # read in the background, not by the consumer


def test_an_error_of_the_source_is_raised_after_the_items_before_it() -> None:
    source = Source(6, fail_at=3)
    seen = []
    with pytest.raises(ValueError, match=r"bad block 3 \(rows 30\.\.39\)"):
        for item in prefetched(source):
            seen.append(item)
    assert seen == [0, 1, 2]
    assert source.closed.is_set() and not _prefetch_threads()


@pytest.mark.parametrize("how", ["break", "close", "consumer error"])
def test_the_thread_stops_and_closes_the_source_when_the_consumer_stops(how: str) -> None:
    source = Source(1000)
    ahead = prefetched(source, depth=1)
    assert next(ahead) == 0
    if how == "close":
        ahead.close()
    elif how == "consumer error":
        with pytest.raises(RuntimeError):
            ahead.throw(RuntimeError("scoring failed"))
    else:
        for _ in ahead:
            break
        ahead.close()  # what a for loop's frame does as it ends
    assert source.closed.wait(5)
    assert not _prefetch_threads()
    assert source.produced <= 4  # one consumed, one queued, one the thread was offering, one more at most


def test_read_ahead_is_bounded_by_depth() -> None:
    source = Source(100)
    ahead = prefetched(source, depth=2)
    assert next(ahead) == 0
    for _ in range(50):  # give the thread time to run ahead as far as it can
        if source.produced >= 4:
            break
        threading.Event().wait(0.02)
    threading.Event().wait(0.1)
    assert source.produced <= 4  # the one consumed, two queued, one waiting to be queued
    ahead.close()
    assert not _prefetch_threads()
