"""Probe time and peak memory for one large video, as media's probe worker runs it.

Run by hand (never in CI):

    .venv/bin/python bench/media/probe_large_file.py [--size-mib 1024] [--keep]

Generates a Matroska file of about ``--size-mib`` on local disk (raw 1280x720 frames, so the file
is large for its few seconds of encoding, with its index (Cues) at the end after all the frames;
raw video in QuickTime does not decode back in FFmpeg, so Matroska it is), uploads it to S3 (the
servers LECTERN_S3_* name, or
the dev stack's SeaweedFS started for the run), then probes it exactly as the service does
(``ProbeRunner``: a probe server forks a child per file, default limits) and reports the probe's
wall time, the child's peak RSS (``wait4``'s ru_maxrss of that one process) and how many bytes it
read. The file, the object and the run's directory are deleted afterwards (unless ``--keep``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import secrets
import shutil
import tempfile
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

from lectern_common.devstack.infra import Infra
from lectern_media.probing.runner import ProbeRunner
from lectern_media.probing.schemas import ObjectLocation, ProbeLimits, ProbeRequest

MIB = 1024 * 1024
BUCKET = "lectern-probe-bench"
WIDTH, HEIGHT, FPS = 1280, 720, 25


def make_large_video(path: Path, size: int) -> int:
    """Raw-video Matroska of about ``size`` bytes; answers the frame count."""
    import av

    frame_bytes = WIDTH * HEIGHT * 3 // 2
    frames = max(1, size // frame_bytes)
    noise = os.urandom(frame_bytes)
    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_stream("rawvideo", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for index in range(frames):
            frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
            offset = 0
            for plane in frame.planes:
                plane.update(noise[offset : offset + plane.buffer_size])
                offset += plane.buffer_size
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return frames


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--keep", action="store_true", help="keep the generated file and object")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="lectern-probe-bench-"))
    path = work / "large.mkv"
    infra = Infra(work / "infra")
    urls = await infra.start()
    key = f"bench/{secrets.token_hex(6)}.mkv"
    client = None
    try:
        await infra.ensure_bucket(BUCKET)
        t0 = time.perf_counter()
        frames = await asyncio.to_thread(make_large_video, path, args.size_mib * MIB)
        size = path.stat().st_size
        print(
            f"generated {size / MIB:.1f} MiB ({frames} raw {WIDTH}x{HEIGHT} frames) in {time.perf_counter() - t0:.1f} s"
        )
        client = await asyncio.to_thread(infra.s3_client)
        t0 = time.perf_counter()
        await asyncio.to_thread(client.upload_file, str(path), BUCKET, key)
        print(f"uploaded to {urls.s3_endpoint}/{BUCKET}/{key} in {time.perf_counter() - t0:.1f} s")
        limits = ProbeLimits()
        request = ProbeRequest(
            location=ObjectLocation(
                endpoint_url=urls.s3_endpoint,
                bucket=BUCKET,
                key=key,
                size_bytes=size,
                access_key=urls.s3_access_key,
                secret_key=urls.s3_secret_key,
                region=urls.s3_region,
            ),
            mime_type="video/x-matroska",
            limits=limits,
        )
        async with ProbeRunner() as runner:
            # The first probe starts the probe server (imports); the service keeps it running.
            t0 = time.perf_counter()
            warm = await runner.run(replace(request, mime_type="application/x-unprobed"))
            print(
                f"probe server start and a first (unprobed) request: {time.perf_counter() - t0:.2f} s ({warm.verdict})"
            )
            t0 = time.perf_counter()
            outcome = await runner.run(request)
            elapsed = time.perf_counter() - t0
        facts = outcome.facts
        print(
            f"limits: memory {limits.memory_bytes // MIB} MiB, timeout {limits.timeout_seconds:g} s, "
            f"read budget {limits.max_read_bytes // MIB} MiB, "
            f"blocks {limits.block_bytes // 1024} KiB x {limits.cached_blocks}"
        )
        print(f"verdict: {outcome.verdict.value} {outcome.reason}")
        if facts:
            print(
                f"facts: {facts.container}, {facts.duration_seconds} s, {facts.width}x{facts.height}, "
                f"video {facts.video_codec}, audio {facts.audio_codec}"
            )
        print(f"probe wall time: {elapsed:.2f} s as the worker sees it; the forked child's own {outcome.seconds:.2f} s")
        print(f"probe child peak RSS: {outcome.peak_rss_bytes / MIB:.1f} MiB (wait4 ru_maxrss of the forked child)")
        print(f"bytes read from S3: {outcome.bytes_read / MIB:.2f} MiB of {size / MIB:.1f} MiB")
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"load average after: {os.getloadavg()}; the bench process's own max RSS {own:.0f} MiB")
    finally:
        if not args.keep:
            if client is not None:
                await asyncio.to_thread(client.delete_object, Bucket=BUCKET, Key=key)
            path.unlink(missing_ok=True)
        await infra.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)  # SeaweedFS keeps the deleted object's volume


if __name__ == "__main__":
    asyncio.run(main())
