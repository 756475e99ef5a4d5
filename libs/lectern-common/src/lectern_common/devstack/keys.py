"""The keys and secrets of one stack: fresh for each run, each handed only to the services that hold it.

The fields mirror :class:`~lectern_common.settings.ServiceSettings`' key and secret settings; which
service holds which is said by each service's spec (:attr:`ServiceSpec.secrets`), as the Helm
chart hands them out, so the dev stack shows that a service runs with only what its purpose needs.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, fields

from lectern_common.devstack.errors import LaunchError
from lectern_common.devstack.spec import ServiceSpec

EVERY_SERVICE_HOLDS = frozenset({"internal_token_public_keys"})
"""Keys every service gets whatever its spec says: each gRPC service checks internal tokens."""


@dataclass(frozen=True)
class StackSecrets:
    """Fresh keys and secrets for each launcher run (never the dev defaults the code falls back
    to), each handed only to the services whose spec holds it (:attr:`ServiceSpec.secrets`)."""

    internal_token_private_key: str
    internal_token_public_keys: str
    realtime_token_private_key: str
    realtime_token_public_keys: str
    upload_token_secret: str
    realtime_publish_token: str

    @classmethod
    def generate(cls) -> StackSecrets:
        from lectern_common.token_keys import generate_key_pair

        internal_private, internal_public = generate_key_pair()
        realtime_private, realtime_public = generate_key_pair()
        return cls(
            internal_token_private_key=internal_private,
            internal_token_public_keys=internal_public,
            realtime_token_private_key=realtime_private,
            realtime_token_public_keys=realtime_public,
            upload_token_secret=secrets.token_urlsafe(32),
            realtime_publish_token=secrets.token_urlsafe(32),
        )

    def as_dict(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def for_service(self, spec: ServiceSpec) -> dict[str, str]:
        """The settings (field -> value) of the keys and secrets ``spec`` holds."""
        every = self.as_dict()
        unknown = spec.secrets - set(every)
        if unknown:
            raise LaunchError(f"{spec.name} holds unknown secrets: {', '.join(sorted(unknown))}")
        return {name: value for name, value in every.items() if name in spec.secrets | EVERY_SERVICE_HOLDS}
