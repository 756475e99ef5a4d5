"""The event-type constants are the types the event protos document, each on its own topic."""

from __future__ import annotations

import re
from pathlib import Path

from lectern.events.v1 import event_types

EVENT_PROTOS = Path(__file__).resolve().parents[3] / "protos" / "lectern" / "events" / "v1"
TOPIC_LINE = re.compile(r"^// Topic (lectern\.[a-z]+\.v1)\b")
TYPE_NAME = re.compile(r"(?<![\w.])(?:course|media|upload|engagement)(?:\.[a-z_]+)+")


def _documented_types() -> dict[str, set[str]]:
    """Topic -> the types named in the comment just above each message of that topic's proto file."""
    documented: dict[str, set[str]] = {}
    for proto in sorted(EVENT_PROTOS.glob("*.proto")):
        lines = proto.read_text().splitlines()
        topic = next((m.group(1) for line in lines if (m := TOPIC_LINE.match(line))), None)
        if topic is None:
            continue  # the envelope: no topic of its own
        for index, line in enumerate(lines):
            if not line.startswith("message "):
                continue
            above = index - 1
            while above >= 0 and lines[above].startswith("//"):
                documented.setdefault(topic, set()).update(TYPE_NAME.findall(lines[above]))
                above -= 1
    return documented


def test_every_documented_type_has_its_constant_on_its_topic() -> None:
    documented = _documented_types()
    assert documented, "no event protos found"
    assert {topic: set(types) for topic, types in event_types.BY_TOPIC.items()} == documented


def test_each_type_starts_with_its_topic_name() -> None:
    for topic, types in event_types.BY_TOPIC.items():
        prefix = topic.removeprefix("lectern.").removesuffix(".v1") + "."
        assert types, topic
        assert {t for t in types if not t.startswith(prefix)} == set(), topic


def test_each_constant_is_listed_once_under_its_topic() -> None:
    constants = {
        name: value
        for name, value in vars(event_types).items()
        if name.isupper() and isinstance(value, str) and not name.endswith("_TOPIC")
    }
    assert set(constants.values()) == event_types.ALL
    assert len(constants) == len(event_types.ALL), "two constants name the same type"
    for name, value in constants.items():
        # COURSE_LESSON_MEDIA_SET = "course.lesson.media_set": the name spells the value.
        assert name == value.upper().replace(".", "_"), name
    assert sum(len(types) for types in event_types.BY_TOPIC.values()) == len(event_types.ALL)


def test_the_payload_groups_are_media_types() -> None:
    assert (
        event_types.MEDIA_FILE_CHANGES | event_types.MEDIA_FILE_LIFECYCLE
        <= event_types.BY_TOPIC[event_types.MEDIA_TOPIC]
    )
    assert not event_types.MEDIA_FILE_CHANGES & event_types.MEDIA_FILE_LIFECYCLE
