"""How the dev stack launcher runs this service."""

from lectern_common.devstack.spec import ServiceSpec

SPEC = ServiceSpec(
    name="upload",
    module="lectern_upload",
    grpc_port=50054,
    http_port=8081,
    database="lectern_upload",
    topics=("lectern.upload.v1",),
    urls={"tus": "http://127.0.0.1:{http_port}/files/"},
    offers={
        "upload_grpc_target": "127.0.0.1:{grpc_port}",
        "upload_public_url": "http://127.0.0.1:{http_port}/files/",
    },
    # It signs and checks its upload tokens, and publishes progress to realtime.
    secrets=frozenset({"upload_token_secret", "realtime_publish_token"}),
    browser_facing=True,
)
