"""message_field writes what protobuf writes for a message field, so answers framed around cached
bytes parse as the messages they stand for; serialize_answer passes bytes through."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp
from google.protobuf.wrappers_pb2 import BytesValue
from lectern_common.grpc_wire import message_field, serialize_answer


def test_a_framed_field_is_byte_identical_to_protobufs_own_encoding() -> None:
    # BytesValue's field 1 is length-delimited, like a message field; 300 bytes need a 2-byte length.
    for size in (1, 127, 128, 300, 70_000):  # proto3 writes no empty bytes field: see below
        payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
        assert message_field(1, payload) == BytesValue(value=payload).SerializeToString()


def test_an_empty_field_is_still_present_when_parsed() -> None:
    framed = message_field(1, b"")
    assert framed == b"\x0a\x00"
    assert BytesValue.FromString(framed).value == b""


def test_serialize_answer_passes_bytes_through_and_encodes_messages() -> None:
    stamp = Timestamp(seconds=1_700_000_000, nanos=5)
    assert serialize_answer(b"\x08\x01") == b"\x08\x01"
    assert serialize_answer(stamp) == stamp.SerializeToString()
