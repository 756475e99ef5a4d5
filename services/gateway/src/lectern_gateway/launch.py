"""How the dev stack launcher runs the gateway."""

from lectern_common.devstack.spec import ServiceSpec

SPEC = ServiceSpec(
    name="gateway",
    module="lectern_gateway",
    http_port=8080,
    urls={"gateway": "http://127.0.0.1:{http_port}", "openapi": "http://127.0.0.1:{http_port}/openapi.json"},
)
