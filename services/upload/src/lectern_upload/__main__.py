"""``python -m lectern_upload serve|migrate``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lectern_common.service_cli import run_service

from lectern_upload.process_tuning import tune_process
from lectern_upload.settings import UploadSettings

if TYPE_CHECKING:
    from lectern_upload.bootstrap import UploadApp


def _app(settings: UploadSettings) -> UploadApp:
    # Imported here, after tune_process: the wiring imports httpx, which skip_httpx_cli must precede.
    from lectern_upload.bootstrap import UploadApp

    return UploadApp(settings)


def main() -> int:
    # cryptography is loaded (~11 MiB of RSS): the gateway's internal tokens are Ed25519-signed,
    # so this internet-facing process holds only their public key.
    return run_service(
        name="upload",
        settings_factory=UploadSettings,
        app_factory=_app,
        package_file=__file__,
        # uvloop: ~11% less CPU per GiB received than asyncio's selector loop (bench/upload).
        loop="fastest",
        tune_process=tune_process,
        # Tracing only when an exporter is configured: the instrumentations cost ~20 MiB of RSS.
        tracing="when_exporting",
    )


if __name__ == "__main__":
    raise SystemExit(main())
