"""ConfirmTracker: every tracked publish settles exactly once, singly, in bulk or by failure."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pika_core.protocol import ConfirmTracker


def test_single_and_multiple_settles() -> None:
    tracker: ConfirmTracker[str] = ConfirmTracker()
    for seq in range(1, 6):
        tracker.add(seq, f"m{seq}")
    assert len(tracker) == 5 and 3 in tracker
    assert tracker.settle(3, False, True) == [(3, "m3", True)]
    assert tracker.settle(3, False, True) == []  # already settled
    assert tracker.settle(4, True, False) == [(1, "m1", False), (2, "m2", False), (4, "m4", False)]
    assert tracker.oldest() == 5
    assert tracker.fail_all() == [(5, "m5")]
    assert len(tracker) == 0 and tracker.oldest() == 0


def test_add_validates_order() -> None:
    tracker: ConfirmTracker[int] = ConfirmTracker()
    tracker.add(2, 2)
    with pytest.raises(ValueError):
        tracker.add(2, 2)
    with pytest.raises(ValueError):
        tracker.add(1, 1)
    with pytest.raises(ValueError):
        tracker.add(0, 0)


@given(
    count=st.integers(min_value=0, max_value=60),
    settles=st.lists(
        st.tuples(st.integers(min_value=0, max_value=70), st.booleans(), st.booleans()),
        max_size=40,
    ),
)
def test_each_publish_settles_exactly_once(count: int, settles: list) -> None:  # type: ignore[type-arg]
    tracker: ConfirmTracker[int] = ConfirmTracker()
    for seq in range(1, count + 1):
        tracker.add(seq, seq * 10)
    seen: list[int] = []
    for tag, multiple, ack in settles:
        for seq, item, settled_ack in tracker.settle(tag, multiple, ack):
            assert item == seq * 10 and settled_ack is ack
            assert seq <= tag and (multiple or seq == tag)
            seen.append(seq)
    seen.extend(seq for seq, _ in tracker.fail_all())
    assert sorted(seen) == list(range(1, count + 1))


def test_add_next_and_pending_agree_with_add_and_len() -> None:
    checked: ConfirmTracker[str] = ConfirmTracker()
    fast: ConfirmTracker[str] = ConfirmTracker()
    for seq in range(1, 6):
        checked.add(seq, f"m{seq}")
        fast.add_next(seq, f"m{seq}")
    assert fast.pending == len(fast) == len(checked) == 5
    assert fast.settle(3, True, True) == checked.settle(3, True, True)
    assert fast.pending == 2 and fast.oldest() == 4
