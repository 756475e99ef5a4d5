"""Outside dev every service refuses its dev defaults: ``LECTERN_<SVC>_ENVIRONMENT=production
python -m lectern_<svc> serve`` with no secret set exits non-zero within seconds, naming each
setting it refuses (the real entry point, in its own process)."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

pytestmark = pytest.mark.timeout(120)

# What each service must be given in production (issue 12's key scheme), by env suffix.
REFUSED = {
    "gateway": [
        "REDIS_URL",
        "INTERNAL_TOKEN_PRIVATE_KEY",
        "REALTIME_TOKEN_PRIVATE_KEY",
        "OIDC_ISSUER",
        "OIDC_AUDIENCE",
        "OIDC_JWKS_URL",
    ],
    "course": ["DATABASE_URL", "KAFKA_BOOTSTRAP", "INTERNAL_TOKEN_PUBLIC_KEYS"],
    "media": [
        "DATABASE_URL",
        "KAFKA_BOOTSTRAP",
        "S3_ENDPOINT",
        "S3_SECRET_KEY",
        "INTERNAL_TOKEN_PRIVATE_KEY",
        "INTERNAL_TOKEN_PUBLIC_KEYS",
    ],
    "analytics": ["DATABASE_URL", "KAFKA_BOOTSTRAP", "REDIS_URL", "INTERNAL_TOKEN_PUBLIC_KEYS"],
    "upload": [
        "DATABASE_URL",
        "KAFKA_BOOTSTRAP",
        "S3_ENDPOINT",
        "S3_SECRET_KEY",
        "INTERNAL_TOKEN_PUBLIC_KEYS",
        "UPLOAD_TOKEN_SECRET",
        "REALTIME_PUBLISH_TOKEN",
    ],
    "realtime": ["REDIS_URL", "KAFKA_BOOTSTRAP", "REALTIME_TOKEN_PUBLIC_KEYS", "REALTIME_PUBLISH_TOKEN"],
}


async def run_serve(service: str, extra_env: dict[str, str]) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LECTERN_")}
    env[f"LECTERN_{service.upper()}_ENVIRONMENT"] = "production"
    env.update(extra_env)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        f"lectern_{service}",
        "serve",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        # A bound for a hung process, not a timing assertion: a refusal takes about a second.
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"lectern_{service} serve did not exit: it started with dev defaults in production")
    assert process.returncode is not None
    return process.returncode, (stdout + stderr).decode()


@pytest.mark.parametrize("service", sorted(REFUSED))
async def test_production_with_no_secrets_exits_naming_each_setting(service: str) -> None:
    code, output = await run_serve(service, {})

    assert code != 0, output
    for suffix in REFUSED[service]:
        assert f"LECTERN_{service.upper()}_{suffix}" in output, output
    assert "Traceback" not in output


async def test_short_secrets_and_a_url_without_password_are_named() -> None:
    code, output = await run_serve(
        "upload",
        {
            "LECTERN_UPLOAD_UPLOAD_TOKEN_SECRET": "too-short",
            "LECTERN_UPLOAD_REALTIME_PUBLISH_TOKEN": "x" * 31,
            "LECTERN_UPLOAD_DATABASE_URL": "postgresql+asyncpg://upload@db.internal:5432/upload",
        },
    )

    assert code != 0
    assert "LECTERN_UPLOAD_UPLOAD_TOKEN_SECRET: shorter than 32 bytes" in output
    assert "LECTERN_UPLOAD_REALTIME_PUBLISH_TOKEN: shorter than 32 bytes" in output
    assert "LECTERN_UPLOAD_DATABASE_URL: has no password" in output


async def test_the_unprefixed_dev_auth_switch_is_no_longer_read() -> None:
    """``LECTERN_DEV_AUTH=1`` once switched the dev login on in any environment."""
    code, output = await run_serve("gateway", {"LECTERN_DEV_AUTH": "1", "LECTERN_GATEWAY_DEV_AUTH": "true"})

    assert code != 0
    assert "LECTERN_GATEWAY_DEV_AUTH: dev login is refused outside dev" in output
