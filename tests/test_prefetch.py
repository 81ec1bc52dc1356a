"""The background prefetcher yields everything in order and re-raises the producer's errors."""

import pytest

from faceoff.prefetch import prefetch


def test_order_and_completeness():
    assert list(prefetch(iter(range(100)), depth=3)) == list(range(100))


def test_producer_error_reaches_consumer():
    def gen():
        yield 1
        raise RuntimeError("decoder broke")

    with pytest.raises(RuntimeError, match="decoder broke"):
        list(prefetch(gen()))


def test_consumer_can_stop_early():
    produced = []

    def gen():
        for i in range(10_000):
            produced.append(i)
            yield i

    for i in prefetch(gen(), depth=2):
        if i == 3:
            break
    assert len(produced) < 100
