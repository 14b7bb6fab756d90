"""Delivery-tag translation: tags never go backwards; acks from a lost connection are dropped."""

from __future__ import annotations

import logging

from pika_core.recovery import STALE, DeliveryTags


def test_tags_continue_after_each_recovery_and_map_back_to_the_broker():
    tags = DeliveryTags()
    assert [tags.inbound(n) for n in (1, 2, 3)] == [1, 2, 3]
    tags.new_connection()
    assert [tags.inbound(n) for n in (1, 2)] == [4, 5]
    assert tags.outbound(5) == 2
    assert tags.outbound(4, multiple=True) == 1
    tags.new_connection()
    assert tags.inbound(1) == 6
    assert tags.outbound(6) == 1


def test_acks_for_deliveries_before_the_loss_are_dropped_with_a_warning(caplog):
    tags = DeliveryTags()
    tags.inbound(1)
    tags.inbound(2)
    tags.new_connection()
    with caplog.at_level(logging.WARNING, logger="pika_core"):
        assert tags.outbound(2) == STALE
        assert tags.outbound(1, multiple=True) == STALE
    assert len([r for r in caplog.records if "Dropped an acknowledgement" in r.message]) == 2


def test_ack_all_outstanding_stays_zero_and_no_recovery_means_no_offset():
    tags = DeliveryTags()
    assert tags.outbound(0, multiple=True) == 0
    tags.inbound(7)
    tags.new_connection()
    assert tags.outbound(0, multiple=True) == 0
    fresh = DeliveryTags()
    fresh.new_connection()  # nothing delivered: nothing can be stale
    assert fresh.inbound(1) == 1
    assert fresh.outbound(1) == 1
