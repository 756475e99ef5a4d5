"""Real, small video files for tests, encoded with PyAV (``av``, a dependency of lectern-media:
the workspace environment has it; this module imports it only when called).

The frames are flat colours that change every frame, so the encoder has something to encode and
the files stay a few kilobytes a second.
"""

from __future__ import annotations

import io
from fractions import Fraction
from typing import Any

# container -> (video codec, audio codec or None); each is in PyAV's wheels.
CODECS: dict[str, tuple[str, str | None]] = {
    "mp4": ("libx264", "aac"),
    "webm": ("libvpx", "libopus"),
    "matroska": ("libx264", "aac"),
    "mov": ("libx264", "aac"),
}


def make_video(
    *,
    seconds: float = 1.0,
    width: int = 160,
    height: int = 120,
    fps: int = 10,
    container: str = "mp4",
    audio: bool = True,
    noise: bool = False,
) -> bytes:
    """A playable video of ``seconds`` with one video stream (and an audio stream of silence).
    ``noise`` fills the frames with random pixels, which barely compress: a file of about
    ``width * height`` bytes a frame, for tests that need a large file."""
    import os

    import av

    video_codec, audio_codec = CODECS[container]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as out:
        video: Any = out.add_stream(video_codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        if video_codec == "libx264":
            video.options = {"preset": "ultrafast"}  # noise takes the slower presets seconds a frame
        sound: Any = None
        if audio and audio_codec:
            sound = out.add_stream(audio_codec, rate=48000)
            sound.layout = "stereo"
        frames = max(1, round(seconds * fps))
        for index in range(frames):
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane in frame.planes:
                fill = os.urandom(plane.buffer_size) if noise else bytes([(index * 7) % 256]) * plane.buffer_size
                plane.update(fill)
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            samples = 960
            for index in range(round(seconds * 48000 / samples)):
                chunk = av.AudioFrame(format=sound.format.name, layout="stereo", samples=samples)
                for audio_plane in chunk.planes:
                    audio_plane.update(bytes(audio_plane.buffer_size))
                chunk.sample_rate = 48000
                chunk.pts = index * samples
                out.mux(sound.encode(chunk))
            out.mux(sound.encode(None))
    return buffer.getvalue()


# The smallest video we pad: 0.2 s of 32x32 pictures, no sound (well under 2 KiB).
_TINY = {"seconds": 0.2, "width": 32, "height": 32, "fps": 5, "audio": False}


def video_of_size(size: int, *, seed: int | None = None) -> bytes:
    """A valid MP4 of exactly ``size`` bytes: a tiny real video, then a ``free`` box of random
    bytes (MP4 readers skip it). For tests that need a file of some size that media accepts as a
    video; ``seed`` makes the bytes repeatable."""
    import random
    import struct

    video = make_video(**_TINY)  # type: ignore[arg-type]
    padding = size - len(video)
    if padding == 0:
        return video
    if padding < 8:
        raise ValueError(f"a video of {size} bytes is too small: the smallest is {len(video)} (or +8 and up)")
    rng = random.Random(seed)
    return video + struct.pack(">I", padding) + b"free" + rng.randbytes(padding - 8)
