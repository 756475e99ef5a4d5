"""How the dev stack launcher runs the gateway."""

from lectern_common.devstack.spec import ServiceSpec

SPEC = ServiceSpec(
    name="gateway",
    module="lectern_gateway",
    http_port=8080,
    urls={"gateway": "http://127.0.0.1:{http_port}", "openapi": "http://127.0.0.1:{http_port}/openapi.json"},
    # It signs internal tokens for every call it makes, and the WebSocket tokens realtime checks.
    secrets=frozenset({"internal_token_private_key", "realtime_token_private_key"}),
    browser_facing=True,
    # The dev login (on by default in dev anyway; said explicitly so `make up` never depends on it).
    settings={"dev_auth": "true"},
    # Every client of a dev stack is 127.0.0.1 (browsers, tests, fuzzers at once): the
    # per-address buckets stay, sized for one machine's worth of clients.
    setting_defaults={
        "rate_limit_per_client_per_minute": "60000",
        "rate_limit_per_client_burst": "10000",
        "dev_token_per_minute": "1200",
        "dev_token_burst": "300",
    },
)
