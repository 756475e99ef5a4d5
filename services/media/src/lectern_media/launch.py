"""How the dev stack launcher runs this service."""

from lectern_common.devstack.spec import ServiceSpec

SPEC = ServiceSpec(
    name="media",
    module="lectern_media",
    grpc_port=50052,
    database="lectern_media",
    uses_bucket=True,
    topics=("lectern.media.v1",),
)
