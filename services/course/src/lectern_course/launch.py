"""How the dev stack launcher runs this service (entry point ``lectern.services: course``)."""

from lectern_common.devstack.spec import ServiceSpec

SPEC = ServiceSpec(
    name="course",
    module="lectern_course",
    grpc_port=50051,
    database="lectern_course",
    topics=("lectern.course.v1",),
    urls={"course gRPC": "127.0.0.1:{grpc_port}"},
    offers={"course_grpc_target": "127.0.0.1:{grpc_port}"},
)
