"""Protobuf ``Struct`` -> the JSON object it was made from.

A Struct keeps every number as a double, so a count or an id written as ``2`` comes back as
``2.0``; clients that compare with integers (or types, as Python and Rust clients do) see a
float. Integral numbers are answered as integers again; other numbers stay as they are.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.struct_pb2 import Struct


def _integral_as_int(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    if isinstance(value, dict):
        return {key: _integral_as_int(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral_as_int(item) for item in value]
    return value


def struct_to_json(struct: Struct) -> dict[str, Any]:
    """The object ``struct`` holds, with integral numbers as integers."""
    return dict(_integral_as_int(MessageToDict(struct)))
