"""The Debian Python clients on CreatePartitions' manual assignments and ElectLeaders, for
test/compat/reassignment-clients.test.ts. One JSON line per step.

Usage: reassignment_admin.py CLIENT BOOTSTRAP TOPIC BROKER_ID
  CLIENT is "kafka-python" (2.0.2) or "confluent-kafka" (1.7.0 on librdkafka 2.0.2).
The topic must exist with 1 partition.

What each has: both send CreatePartitions with a replica assignment per new partition
(kafka-python's KafkaAdminClient.create_partitions, v0-1; confluent-kafka's AdminClient
create_partitions with replica_assignment). Neither has AlterPartitionReassignments,
ListPartitionReassignments or ElectLeaders. kafka-python's protocol layer (its Struct/Schema types, its
request header, framing and correlation) can still carry ElectLeaders v0 and v1, which are not
flexible, so the "elect" step declares those two request and response classes from Kafka's
ElectLeadersRequest/Response grammar and sends them through the admin client's connection to the
controller: kafka-python's encoder, not ours, writes the bytes.
"""
import json
import sys


def out(obj):
    print(json.dumps(obj), flush=True)


def refusal(err):
    """The Kafka error code a client's exception carries (kafka-python's errno, confluent-kafka's code())."""
    code = getattr(err, "errno", None)
    try:  # confluent-kafka: a KafkaException wrapping a KafkaError
        code = err.args[0].code()
    except Exception:  # noqa: BLE001 - not a confluent-kafka error
        pass
    return {"refused": True, "error_code": code, "message": str(err)}


def kafka_python(bootstrap, topic, broker_id):
    from kafka import KafkaAdminClient
    from kafka.admin import NewPartitions
    from kafka.protocol.api import Request, Response
    from kafka.protocol.types import Array, Int8, Int16, Int32, Schema, String

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    admin.create_partitions({topic: NewPartitions(2, [[broker_id]])})
    out({"event": "grow", "to": 2, "refused": False})
    try:
        admin.create_partitions({topic: NewPartitions(3, [[99]])})
        out({"event": "unknown-broker", "refused": False})
    except Exception as e:  # noqa: BLE001 - the refusal is what is checked
        out({"event": "unknown-broker", **refusal(e)})

    results = Array(
        ("topic", String("utf-8")),
        ("partition_result", Array(
            ("partition_id", Int32), ("error_code", Int16), ("error_message", String("utf-8")))),
    )
    partitions = Array(("topic", String("utf-8")), ("partitions", Array(Int32)))

    class ElectLeadersResponse_v0(Response):
        API_KEY = 43
        API_VERSION = 0
        SCHEMA = Schema(("throttle_time_ms", Int32), ("replica_election_results", results))

    class ElectLeadersResponse_v1(Response):
        API_KEY = 43
        API_VERSION = 1
        SCHEMA = Schema(("throttle_time_ms", Int32), ("error_code", Int16),
                        ("replica_election_results", results))

    class ElectLeadersRequest_v0(Request):
        API_KEY = 43
        API_VERSION = 0
        RESPONSE_TYPE = ElectLeadersResponse_v0
        SCHEMA = Schema(("topic_partitions", partitions), ("timeout_ms", Int32))

    class ElectLeadersRequest_v1(Request):
        API_KEY = 43
        API_VERSION = 1
        RESPONSE_TYPE = ElectLeadersResponse_v1
        SCHEMA = Schema(("election_type", Int8), ("topic_partitions", partitions), ("timeout_ms", Int32))

    asked = [(topic, [0, 1]), ("no-such-topic", [0])]
    for version, request in (
        (0, ElectLeadersRequest_v0(topic_partitions=asked, timeout_ms=10000)),
        (1, ElectLeadersRequest_v1(election_type=0, topic_partitions=asked, timeout_ms=10000)),
        (1, ElectLeadersRequest_v1(election_type=0, topic_partitions=None, timeout_ms=10000)),
    ):
        future = admin._send_request_to_node(admin._controller_id, request)
        admin._wait_for_futures([future])
        response = future.value
        out({
            "event": "elect",
            "version": version,
            "all": request.topic_partitions is None,
            "error_code": getattr(response, "error_code", None),
            "results": [[t, p, code] for t, ps in response.replica_election_results for p, code, _ in ps],
        })
    admin.close()


def confluent(bootstrap, topic, broker_id):
    from confluent_kafka.admin import AdminClient, NewPartitions

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for fut in admin.create_partitions([NewPartitions(topic, 2, replica_assignment=[[broker_id]])]).values():
        fut.result()
    out({"event": "grow", "to": 2, "refused": False})
    try:
        fut = admin.create_partitions([NewPartitions(topic, 3, replica_assignment=[[99]])])
        list(fut.values())[0].result()
        out({"event": "unknown-broker", "refused": False})
    except Exception as e:  # noqa: BLE001
        out({"event": "unknown-broker", **refusal(e)})


if __name__ == "__main__":
    client, bootstrap, topic, broker_id = sys.argv[1:]
    {"kafka-python": kafka_python, "confluent-kafka": confluent}[client](bootstrap, topic, int(broker_id))
