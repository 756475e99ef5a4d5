"""``python -m lectern_upload serve|migrate``."""

from __future__ import annotations

from lectern_common.service_cli import run_service

from lectern_upload.bootstrap import UploadApp
from lectern_upload.process_tuning import tune_process
from lectern_upload.settings import UploadSettings


def main() -> int:
    # cryptography is loaded (~11 MiB of RSS): the gateway's internal tokens are Ed25519-signed,
    # so this internet-facing process holds only their public key.
    return run_service(
        name="upload",
        settings_factory=UploadSettings,
        app_factory=UploadApp,
        package_file=__file__,
        # uvloop: ~11% less CPU per GiB received than asyncio's selector loop (bench/upload).
        loop="fastest",
        # glibc's heap for part buffers, and httpx without its command-line tool.
        tune_process=tune_process,
        # Tracing only when an exporter is configured: the instrumentations cost ~20 MiB of RSS.
        tracing="when_exporting",
    )


if __name__ == "__main__":
    raise SystemExit(main())
