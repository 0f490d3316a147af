#!/usr/bin/python3
"""A generic gRPC client that is not ours: Debian's grpcio, with stubs compiled at run time from the
broker's .proto files by grpc_tools. Usage: python-client.py <address> <proto dir> <reflection proto dir> <out dir>
Prints one JSON object with what each call returned."""
import json, sys, importlib
from grpc_tools import protoc
import grpc

address, proto_dir, reflection_dir, out = sys.argv[1:5]
assert protoc.main(["protoc", f"-I{proto_dir}", f"--python_out={out}", f"--grpc_python_out={out}", "tsbroker/v1/broker.proto"]) == 0
assert protoc.main(["protoc", f"-I{proto_dir}", f"--python_out={out}", "grpc/health/v1/health.proto"]) == 0
assert protoc.main(["protoc", f"-I{reflection_dir}", f"--python_out={out}", "grpc/reflection/v1/reflection.proto"]) == 0
sys.path.insert(0, out)
pb = importlib.import_module("tsbroker.v1.broker_pb2")
pb_grpc = importlib.import_module("tsbroker.v1.broker_pb2_grpc")

def load(name, path):
    # The generated grpc/health and grpc/reflection packages would clash with the grpc library's own
    # package, so their message modules are loaded from their files and called through generic stubs.
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

import importlib.util
health = load("health_pb2", f"{out}/grpc/health/v1/health_pb2.py")
refl = load("reflection_pb2", f"{out}/grpc/reflection/v1/reflection_pb2.py")

channel = grpc.insecure_channel(address)
stub = pb_grpc.BrokerStub(channel)
result = {}
check = channel.unary_unary("/grpc.health.v1.Health/Check", request_serializer=health.HealthCheckRequest.SerializeToString,
                            response_deserializer=health.HealthCheckResponse.FromString)
result["health"] = health.HealthCheckResponse.ServingStatus.Name(check(health.HealthCheckRequest(service="tsbroker.v1.Broker")).status)
reflect = channel.stream_stream("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                                request_serializer=refl.ServerReflectionRequest.SerializeToString,
                                response_deserializer=refl.ServerReflectionResponse.FromString)
replies = reflect(iter([refl.ServerReflectionRequest(list_services="")]))
result["services"] = sorted(s.name for r in replies for s in r.list_services_response.service)
created = stub.CreateTopic(pb.CreateTopicRequest(name="py-topic", partitions=2, configs={"cleanup.policy": "compact"}))
result["created"] = {"partitions": created.topic.partitions, "cleanup.policy": created.topic.configs["cleanup.policy"].value}
one = stub.Produce(pb.ProduceRequest(topic="py-topic", record=pb.Record(key=b"user-42", value=b"hello from python")))
result["produce"] = {"partition": one.partition, "offset": one.offset}
batch = stub.ProduceBatch(pb.ProduceBatchRequest(topic="py-topic", partition=1,
                          records=[pb.Record(value=("m%d" % i).encode(), headers=[pb.Header(key="i", value=bytes([i]))]) for i in range(5)]))
result["batch"] = {"partition": batch.partition, "base_offset": batch.base_offset, "count": batch.count}
got = stub.ConsumeBatch(pb.ConsumeBatchRequest(topic="py-topic", partition=1, offset=0, max_records=10))
result["consumed"] = [{"offset": r.offset, "value": r.value.decode(), "header": r.headers[0].value[0]} for r in got.records]
result["next_offset"] = got.next_offset
try:
    stub.DescribeTopic(pb.DescribeTopicRequest(name="no-such-topic"))
    result["missing"] = "no error"
except grpc.RpcError as e:
    result["missing"] = {"code": e.code().name, "broker_code": dict(e.trailing_metadata()).get("broker-error-code")}
print(json.dumps(result))
