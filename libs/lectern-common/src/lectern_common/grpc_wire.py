"""Answers written as protobuf wire bytes, for servicers that keep encoded parts of their answers.

A message's serialization is the concatenation of its fields' encodings, and a message field is
its tag, its length and the field message's own bytes. A service holding a part of an answer
already encoded (course's editor trees, analytics' cached domains) writes the answer around those
bytes with ``message_field`` instead of merging them into a message and encoding it all again, and
registers its servicer with ``add_servicer_answering_bytes``, whose response serializer passes
bytes through.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import grpc
from google.protobuf.message import Message

_LENGTH_DELIMITED = 2


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def message_field(number: int, encoded: bytes) -> bytes:
    """Field ``number`` holding a message whose serialization is ``encoded`` (empty bytes still
    mark the field present, as a merge of empty bytes does)."""
    return _varint(number << 3 | _LENGTH_DELIMITED) + _varint(len(encoded)) + encoded


def serialize_answer(response: Message | bytes) -> bytes:
    """The response serializer of every method: a message is serialized, bytes are already it."""
    if isinstance(response, bytes):
        return response
    return response.SerializeToString()


def add_servicer_answering_bytes(servicer: Any, server: grpc.aio.Server, pb: ModuleType, service: str) -> None:
    """Register every unary method of ``service`` (its short name in the ``pb`` module's
    descriptor) on ``servicer``, as the generated ``add_XServicer_to_server`` does, but with
    ``serialize_answer`` as the response serializer."""
    descriptor = pb.DESCRIPTOR.services_by_name[service]
    handlers = {
        method.name: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, method.name),
            request_deserializer=getattr(pb, method.input_type.name).FromString,
            response_serializer=serialize_answer,
        )
        for method in descriptor.methods
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(descriptor.full_name, handlers),))
    server.add_registered_method_handlers(descriptor.full_name, handlers)
