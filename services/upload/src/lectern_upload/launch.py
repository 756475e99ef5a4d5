"""How the dev stack launcher runs this service."""

from lectern_common.devstack.spec import ServiceSpec

SPEC = ServiceSpec(
    name="upload",
    module="lectern_upload",
    grpc_port=50054,
    http_port=8081,
    database="lectern_upload",
    uses_bucket=True,
    topics=("lectern.upload.v1",),
    urls={"tus": "http://127.0.0.1:{http_port}/files/"},
)
