"""What the bytes of a file are, read with PyAV (FFmpeg): the container, duration, picture size and
codecs, and whether that is the media its type claims. Pure: a file object in, facts or a reason
out. Runs in the probe's child process (``probing.child``), never in the service's."""

from __future__ import annotations

from typing import Any, BinaryIO

import av

from lectern_media.probing.schemas import MediaFacts

# FFmpeg may read this much (bytes) and this long (microseconds of media) to find the streams.
PROBE_SIZE = 5 * 1024 * 1024
ANALYZE_DURATION = 5_000_000
# A file whose first picture (or sound) takes more packets than this to decode is not accepted.
MAX_PACKETS_TO_FIRST_FRAME = 600

# Subtypes whose container we know: the file must be in one of these FFmpeg demuxers. Other
# subtypes of video/, audio/ and image/ accept any container with the right kind of stream.
CONTAINERS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "video/mp4": ("mov,mp4,m4a,3gp,3g2,mj2",),
    "video/quicktime": ("mov,mp4,m4a,3gp,3g2,mj2",),
    "video/webm": ("matroska,webm",),
    "video/x-matroska": ("matroska,webm",),
    "video/ogg": ("ogg",),
    "video/mpeg": ("mpeg", "mpegts", "mpegvideo"),
    "video/mp2t": ("mpegts",),
    "video/x-msvideo": ("avi",),
    "audio/mpeg": ("mp3",),
    "audio/mp4": ("mov,mp4,m4a,3gp,3g2,mj2",),
    "audio/ogg": ("ogg",),
    "audio/webm": ("matroska,webm",),
    "audio/wav": ("wav",),
    "audio/x-wav": ("wav",),
    "audio/flac": ("flac",),
    "image/png": ("png_pipe", "apng"),
    "image/jpeg": ("jpeg_pipe", "mjpeg"),
    "image/gif": ("gif",),
    "image/webp": ("webp_pipe",),
}

_KIND_WORDS = {"video": "a video", "audio": "an audio file", "image": "an image"}
_FRIENDLY_CONTAINERS = {
    "mov,mp4,m4a,3gp,3g2,mj2": "an MP4/QuickTime file",
    "matroska,webm": "a WebM/Matroska file",
    "ogg": "an Ogg file",
    "mpegts": "an MPEG transport stream",
    "avi": "an AVI file",
    "mp3": "an MP3 file",
    "wav": "a WAV file",
    "png_pipe": "a PNG image",
    "jpeg_pipe": "a JPEG image",
    "gif": "a GIF image",
    "webp_pipe": "a WebP image",
}


class NotWhatItClaims(Exception):
    """The file is not the media its type says; ``str()`` is the reason its owner reads."""


def inspect_file(source: BinaryIO, mime_type: str) -> MediaFacts:
    """The facts of ``source``, or NotWhatItClaims with a reason the author can act on."""
    mime = mime_type.split(";", 1)[0].strip().lower()
    kind = mime.split("/", 1)[0]
    if mime == "application/pdf":
        return _inspect_pdf(source)
    if kind not in _KIND_WORDS:
        return MediaFacts(container="unprobed")  # a type we have nothing to check against
    claimed = _KIND_WORDS[kind]
    try:
        container: Any = av.open(
            source,
            mode="r",
            options={"probesize": str(PROBE_SIZE), "analyzeduration": str(ANALYZE_DURATION)},
        )
    except av.FFmpegError as exc:
        raise NotWhatItClaims(f"this file is not {claimed} that can be read ({_ffmpeg_reason(exc)})") from exc
    with container:
        name = container.format.name
        expected = CONTAINERS_BY_TYPE.get(mime)
        if expected and name not in expected:
            raise NotWhatItClaims(f"this file is {_friendly(name)}, not the {mime} it was uploaded as")
        video = [s for s in container.streams.video if not _is_cover_art(s)]
        audio = list(container.streams.audio)
        if kind in ("video", "image") and not video:
            what = "has only sound" if audio else "has no picture"
            raise NotWhatItClaims(f"this file {what}: it is not {claimed}")
        if kind == "audio" and not audio:
            raise NotWhatItClaims("this file has no sound: it is not an audio file")
        first = video[0] if kind in ("video", "image") else audio[0]
        _decode_first_frame(container, first, claimed)
        duration = _duration(container, first)
        if kind in ("video", "audio") and not duration:
            raise NotWhatItClaims(f"this file has no duration: it is not {claimed} that can be played")
        width = int(video[0].codec_context.width or 0) if video else 0
        height = int(video[0].codec_context.height or 0) if video else 0
        if video and (width <= 0 or height <= 0):
            raise NotWhatItClaims(f"this file's picture has no size: it is not {claimed} that can be shown")
        return MediaFacts(
            container=name,
            duration_seconds=round(duration, 3) if duration else None,
            width=width or None,
            height=height or None,
            video_codec=video[0].codec_context.name if video else None,
            audio_codec=audio[0].codec_context.name if audio else None,
            streams=[_stream(s) for s in container.streams],
        )


def _inspect_pdf(source: BinaryIO) -> MediaFacts:
    head = source.read(1024)
    if b"%PDF-" not in head:
        raise NotWhatItClaims("this file does not start like a PDF: it is not the application/pdf it was uploaded as")
    return MediaFacts(container="pdf")


def _decode_first_frame(container: Any, stream: Any, claimed: str) -> None:
    """Decode until the first frame of ``stream``: the header can lie, the packets cannot."""
    packets = 0
    try:
        for packet in container.demux(stream):
            packets += 1
            for _frame in packet.decode():
                return
            if packets >= MAX_PACKETS_TO_FIRST_FRAME:
                break
    except av.FFmpegError as exc:
        raise NotWhatItClaims(
            f"this file is damaged: its first frame cannot be decoded ({_ffmpeg_reason(exc)})"
        ) from exc
    raise NotWhatItClaims(f"nothing in this file could be decoded: it is not {claimed} that can be played")


def _duration(container: Any, stream: Any) -> float | None:
    if container.duration and container.duration > 0:
        return float(container.duration) / 1_000_000
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return None


def _is_cover_art(stream: Any) -> bool:
    disposition = getattr(stream, "disposition", None)
    attached = getattr(av.stream, "Disposition", None)
    if disposition is None or attached is None:
        return False
    return bool(disposition & attached.attached_pic)


def _stream(stream: Any) -> dict[str, Any]:
    context = stream.codec_context
    info: dict[str, Any] = {"index": stream.index, "type": stream.type, "codec": context.name if context else None}
    if stream.type == "video":
        info.update(width=context.width, height=context.height)
    elif stream.type == "audio":
        info.update(sampleRate=context.sample_rate, channels=context.channels)
    return info


def _friendly(container: str) -> str:
    return _FRIENDLY_CONTAINERS.get(container, f"a {container} file")


def _ffmpeg_reason(exc: Exception) -> str:
    strerror = getattr(exc, "strerror", None)
    return str(strerror or exc).rstrip(".")
