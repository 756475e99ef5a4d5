"""How the dev stack launcher runs this service."""

from lectern_common.devstack.spec import ServiceSpec

SPEC = ServiceSpec(
    name="media",
    module="lectern_media",
    grpc_port=50052,
    database="lectern_media",
    topics=("lectern.media.v1",),
    offers={"media_grpc_target": "127.0.0.1:{grpc_port}"},
    # It signs the internal tokens of its own calls to course.
    secrets=frozenset({"internal_token_private_key"}),
)
