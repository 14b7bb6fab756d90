"""The pika-compatible base classes: repr, equality, content slots and decode()."""

from __future__ import annotations

import pytest

from pika_core import amqp_object, spec


def test_repr_lists_the_fields_that_are_set() -> None:
    deliver = spec.Basic.Deliver("ctag", 1, False, "ex", "rk")
    assert repr(deliver) == (
        "<Basic.Deliver(['consumer_tag=ctag', 'delivery_tag=1', 'exchange=ex', "
        "'redelivered=False', 'routing_key=rk'])>"
    )
    assert repr(spec.Basic.QosOk()) == "<Basic.QosOk>"
    assert repr(spec.Basic.ConsumeOk()) == "<Basic.ConsumeOk>"
    assert repr(spec.BasicProperties(delivery_mode=2)) == "<BasicProperties(['delivery_mode=2'])>"


def test_repr_masks_secret_fields() -> None:
    text = repr(spec.Connection.StartOk(response=b"\x00user\x00password"))
    assert "password" not in text
    assert "response=<redacted>" in text


def test_equality_compares_type_and_fields() -> None:
    assert spec.Basic.Ack(5, True) == spec.Basic.Ack(5, True)
    assert spec.Basic.Ack(5, True) != spec.Basic.Ack(5, False)
    assert spec.Basic.Ack(5) != spec.Basic.Nack(5)
    assert spec.Tx.Select() != spec.Tx.Commit()
    assert spec.Tx.Select() == spec.Tx.Select()
    assert spec.Basic.Ack() != "Basic.Ack"
    assert spec.Basic.Ack() != None
    assert spec.BasicProperties(priority=1) == spec.BasicProperties(priority=1)
    assert spec.BasicProperties(priority=1) != spec.BasicProperties(priority=2)


def test_objects_are_not_hashable() -> None:
    with pytest.raises(TypeError):
        hash(spec.Basic.Ack())


def test_content_slots() -> None:
    deliver = spec.Basic.Deliver("ctag", 1)
    assert deliver.get_properties() is None
    assert deliver.get_body() is None
    props = spec.BasicProperties(content_type="text/plain")
    deliver._set_content(props, b"body")
    assert deliver.get_properties() is props
    assert deliver.get_body() == b"body"
    # The content is not an argument: it takes no part in equality.
    assert deliver == spec.Basic.Deliver("ctag", 1)


def test_decode_fills_the_instance_in_place() -> None:
    target = spec.Basic.Ack()
    assert target.decode(b"\x00\x00\x00\x00\x00\x00\x00\x09\x01") is target
    assert (target.delivery_tag, target.multiple) == (9, True)
    props = spec.BasicProperties()
    assert props.decode(b"XX\x00\x40" + b"\x00" * 7 + b"\x2a", 2) is props
    assert props.timestamp == 42


def test_base_classes() -> None:
    assert issubclass(amqp_object.Method, amqp_object.AMQPObject)
    assert issubclass(amqp_object.Class, amqp_object.AMQPObject)
    assert issubclass(amqp_object.Properties, amqp_object.AMQPObject)
    assert amqp_object.Method.synchronous is False
    assert amqp_object.Method.NAME == "Unextended Method"
    assert amqp_object.Class.NAME == "Unextended Class"
    assert amqp_object.Properties.NAME == "Unextended Properties"
    assert amqp_object.AMQPObject.INDEX is None
    with pytest.raises(NotImplementedError):
        amqp_object.Method().encode()
    with pytest.raises(NotImplementedError):
        amqp_object.Method().decode(b"")
    with pytest.raises(NotImplementedError):
        amqp_object.Properties().encode()
    with pytest.raises(NotImplementedError):
        amqp_object.Properties().decode(b"")
    assert repr(amqp_object.Method()) == "<Unextended Method>"
