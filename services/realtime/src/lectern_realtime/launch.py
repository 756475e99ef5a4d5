"""How the dev stack launcher runs realtime (no database: Redis holds everything it keeps)."""

from lectern_common.devstack.spec import ServiceSpec

SPEC = ServiceSpec(
    name="realtime",
    module="lectern_realtime",
    http_port=8082,
    publish_port=8083,
    urls={
        "websocket": "ws://127.0.0.1:{http_port}/ws",
        "publish": "http://127.0.0.1:{publish_port}/v1/publish",
    },
    offers={
        "realtime_publish_url": "http://127.0.0.1:{publish_port}/v1/publish",
        "realtime_public_url": "ws://127.0.0.1:{http_port}/ws",
    },
    # It checks the gateway's WebSocket tokens and the publishers' bearer credential.
    secrets=frozenset({"realtime_token_public_keys", "realtime_publish_token"}),
)
