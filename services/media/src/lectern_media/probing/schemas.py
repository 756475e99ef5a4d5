"""What a probe is asked and what it answers; plain data, JSON both ways (parent <-> child)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class ProbeLimits:
    """Per file: the child's address space, its wall-clock time, and how many bytes it may read."""

    memory_bytes: int = 512 * 1024 * 1024
    timeout_seconds: float = 60.0
    max_read_bytes: int = 64 * 1024 * 1024
    block_bytes: int = 1024 * 1024
    cached_blocks: int = 4


@dataclass(frozen=True)
class ObjectLocation:
    endpoint_url: str
    bucket: str
    key: str
    size_bytes: int
    access_key: str
    secret_key: str
    region: str


@dataclass(frozen=True)
class ProbeRequest:
    location: ObjectLocation
    mime_type: str
    limits: ProbeLimits

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProbeRequest:
        return cls(
            location=ObjectLocation(**data["location"]),
            mime_type=str(data["mime_type"]),
            limits=ProbeLimits(**data["limits"]),
        )


@dataclass(frozen=True)
class MediaFacts:
    """What the bytes are. ``container`` is FFmpeg's demuxer name (``mov,mp4,m4a,3gp,3g2,mj2``), or
    ``pdf`` for a PDF; the rest is set when the file has it."""

    container: str
    duration_seconds: float | None = None
    width: int | None = None
    height: int | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    streams: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MediaFacts:
        return cls(**data)


class ProbeVerdict(StrEnum):
    READY = "ready"  # the file is what its type says
    REJECTED = "rejected"  # it is not: the media becomes failed with ``reason``
    RETRY = "retry"  # the probe could not run (storage down, child crashed): try again later


@dataclass(frozen=True)
class ProbeOutcome:
    verdict: ProbeVerdict
    facts: MediaFacts | None = None
    reason: str = ""
    bytes_read: int = 0
    seconds: float = 0.0  # the probe child's wall time
    peak_rss_bytes: int = 0  # the probe child's peak resident memory

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "facts": self.facts.to_json() if self.facts else None,
            "reason": self.reason,
            "bytes_read": self.bytes_read,
            "seconds": self.seconds,
            "peak_rss_bytes": self.peak_rss_bytes,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProbeOutcome:
        facts = data.get("facts")
        return cls(
            verdict=ProbeVerdict(data["verdict"]),
            facts=MediaFacts.from_json(facts) if facts else None,
            reason=str(data.get("reason", "")),
            bytes_read=int(data.get("bytes_read", 0)),
            seconds=float(data.get("seconds", 0.0)),
            peak_rss_bytes=int(data.get("peak_rss_bytes", 0)),
        )
