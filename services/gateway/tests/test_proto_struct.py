"""Struct details come back with their integers as integers."""

from __future__ import annotations

from google.protobuf.struct_pb2 import Struct
from lectern_gateway.proto_struct import struct_to_json


def test_integral_numbers_are_answered_as_integers_at_any_depth() -> None:
    struct = Struct()
    struct.update({"removedLinks": 2, "courses": [{"linkCount": 1, "title": "x"}], "ratio": 0.5, "none": None})

    answered = struct_to_json(struct)

    assert answered == {"removedLinks": 2, "courses": [{"linkCount": 1, "title": "x"}], "ratio": 0.5, "none": None}
    assert type(answered["removedLinks"]) is int and type(answered["courses"][0]["linkCount"]) is int
    assert type(answered["ratio"]) is float
