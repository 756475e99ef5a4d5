"""What a probe child does (``probe``): read the object with ranged GETs and tell what it is.
The probe server (``probing.server``) forks a child per file that limits its own address space
(RLIMIT_AS) and calls it, so a file that makes FFmpeg allocate without bound ends that child, never
the service. Credentials come on stdin, never in argv (which ``ps`` shows).

``python -m lectern_media.probing.child`` probes one file by itself (one ProbeRequest as JSON on
stdin, one ProbeOutcome on stdout), for trying a file by hand.
"""

from __future__ import annotations

import json
import resource
import sys

from lectern_media.probing.schemas import ProbeOutcome, ProbeRequest, ProbeVerdict


def size_words(n: int) -> str:
    """``67108864`` -> ``64 MiB``: limits as an author reads them."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} bytes"


def _limit_memory(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def probe(request: ProbeRequest) -> ProbeOutcome:
    # Imported after the memory limit, like everything the probe allocates.
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    from lectern_media.probing.inspection import NotWhatItClaims, inspect_file
    from lectern_media.probing.object_reader import RangedObjectReader, ReadBudgetExceeded

    where, limits = request.location, request.limits
    client = boto3.client(
        "s3",
        endpoint_url=where.endpoint_url,
        aws_access_key_id=where.access_key,
        aws_secret_access_key=where.secret_key,
        region_name=where.region,
        config=Config(
            s3={"addressing_style": "path"},  # as lectern_common's S3ObjectStore (S3-compatible stores)
            connect_timeout=5,
            read_timeout=20,
            retries={"max_attempts": 3, "mode": "standard"},
        ),
    )
    reader = RangedObjectReader(
        client,
        where.bucket,
        where.key,
        where.size_bytes,
        block_bytes=limits.block_bytes,
        cached_blocks=limits.cached_blocks,
        max_read_bytes=limits.max_read_bytes,
    )
    over_budget = f"telling what this file is needs more than {size_words(limits.max_read_bytes)} of it"
    try:
        facts = inspect_file(reader, request.mime_type)  # type: ignore[arg-type]  # RawIOBase is a binary file
    except NotWhatItClaims as exc:
        # FFmpeg reports a refused read as an I/O error: the budget is the real cause.
        reason = over_budget if reader.over_budget else str(exc)
        return ProbeOutcome(ProbeVerdict.REJECTED, reason=reason, bytes_read=reader.bytes_fetched)
    except ReadBudgetExceeded:
        return ProbeOutcome(ProbeVerdict.REJECTED, reason=over_budget, bytes_read=reader.bytes_fetched)
    except (BotoCoreError, ClientError) as exc:
        return ProbeOutcome(ProbeVerdict.RETRY, reason=f"storage: {exc}", bytes_read=reader.bytes_fetched)
    except MemoryError:
        reason = f"reading this file needs more than {size_words(limits.memory_bytes)} of memory"
        return ProbeOutcome(ProbeVerdict.REJECTED, reason=reason, bytes_read=reader.bytes_fetched)
    return ProbeOutcome(ProbeVerdict.READY, facts=facts, bytes_read=reader.bytes_fetched)


def main() -> int:
    request = ProbeRequest.from_json(json.loads(sys.stdin.read()))
    _limit_memory(request.limits.memory_bytes)
    outcome = probe(request)
    sys.stdout.write(json.dumps(outcome.to_json()))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
