"""The course edit's ``data`` JSON, remembered by the CourseEdit message's own wire bytes.

``course_edit_data`` reads nothing but the message (the caller's role on the course is one of its
fields), so the JSON is a function of the message, and a message is its serialized bytes: an
entry keyed by them cannot go stale and cannot be another caller's, another course's or another
version's. Serializing the message is about 1 us; building the models and encoding them is about
70 us for a 5 x 4 course (bench/gateway/README.md). A save's answer is the edit the next read of
the course answers, so the save fills the entry the editor's next getCourseEdit finds.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from lectern.course.v1 import course_pb2
from pydantic import TypeAdapter

from lectern_gateway.actions.registry import EncodedData

EditEncoder = Callable[[course_pb2.CourseEdit], bytes]

_ID_MAP = TypeAdapter(dict[str, str])


class EditJsonCache:
    """A least-recently-used map of CourseEdit wire bytes -> its ``data`` JSON, bounded by the
    bytes of keys and values together (an edit bigger than the whole bound is not kept)."""

    def __init__(self, encode: EditEncoder, max_bytes: int) -> None:
        self._encode = encode
        self._max_bytes = max_bytes
        self._entries: OrderedDict[bytes, bytes] = OrderedDict()
        self._bytes = 0

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def encoded(self, edit: course_pb2.CourseEdit) -> bytes:
        """``edit``'s ``data`` JSON: remembered when this exact message was seen, else built."""
        key = edit.SerializeToString()
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            return found
        built = self._encode(edit)
        self._keep(key, built)
        return built

    def _keep(self, key: bytes, value: bytes) -> None:
        size = len(key) + len(value)
        if size > self._max_bytes:
            return
        self._entries[key] = value
        self._bytes += size
        while self._bytes > self._max_bytes:
            old_key, old_value = self._entries.popitem(last=False)
            self._bytes -= len(old_key) + len(old_value)


def saved_changes_json(edit_json: bytes, id_map: dict[str, str]) -> EncodedData:
    """SaveCourseChangesData's JSON around an edit's already encoded JSON (its fields in order)."""
    return EncodedData(b'{"course":' + edit_json + b',"idMap":' + _ID_MAP.dump_json(id_map) + b"}")
