"""How the dev stack launcher runs this service (entry point ``lectern.services: analytics``)."""

from lectern_common.devstack.spec import ServiceSpec

SPEC = ServiceSpec(
    name="analytics",
    module="lectern_analytics",
    grpc_port=50053,
    database="lectern_analytics",
    topics=("lectern.engagement.v1",),
    urls={"analytics gRPC": "127.0.0.1:{grpc_port}"},
    offers={"analytics_grpc_target": "127.0.0.1:{grpc_port}"},
)
