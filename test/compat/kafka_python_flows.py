"""kafka-python 2.0.2 (Debian's) flows for test/compat/kafka-python.test.ts.

Every command prints JSON lines on stdout. Usage:
  produce BOOTSTRAP TOPIC CODEC PREFIX COUNT PARTITION
  consume BOOTSTRAP TOPIC PARTITION COUNT        read a partition from the beginning, COUNT records
  create BOOTSTRAP TOPIC PARTITIONS | delete BOOTSTRAP TOPIC | topics BOOTSTRAP
  member BOOTSTRAP GROUP TOPIC                   a group member; stdin: "commit", "close"
kafka-python 2.0.2 has no idempotent producer (it came in 2.1), so there is no such flow.
"""
import json
import queue
import sys
import threading
import time

from kafka import ConsumerRebalanceListener, KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

TIMEOUTS = {"request_timeout_ms": 30000, "api_version_auto_timeout_ms": 10000}


def out(obj):
    print(json.dumps(obj), flush=True)


def record(m):
    return {
        "event": "record",
        "topic": m.topic,
        "partition": m.partition,
        "offset": m.offset,
        "key": m.key.decode() if m.key is not None else None,
        "value": m.value.decode() if m.value is not None else None,
    }


def produce(bootstrap, topic, codec, prefix, count, partition):
    p = KafkaProducer(
        bootstrap_servers=bootstrap,
        compression_type=None if codec == "none" else codec,
        acks="all",
        linger_ms=5,
        **TIMEOUTS,
    )
    futures = [
        p.send(topic, value=f"{prefix}-{i}".encode(), key=f"k{i}".encode(), partition=int(partition))
        for i in range(int(count))
    ]
    p.flush(30)
    for f in futures:
        f.get(30)
    p.close(10)
    out({"produced": int(count)})


def consume(bootstrap, topic, partition, count):
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **TIMEOUTS)
    tp = TopicPartition(topic, int(partition))
    c.assign([tp])
    c.seek_to_beginning(tp)
    got = 0
    deadline = time.time() + 30
    while got < int(count) and time.time() < deadline:
        for records in c.poll(timeout_ms=200).values():
            for m in records:
                out(record(m))
                got += 1
    c.close()
    if got < int(count):
        raise SystemExit(f"only {got} of {count} records")


def admin(bootstrap):
    return KafkaAdminClient(bootstrap_servers=bootstrap, **TIMEOUTS)


def create(bootstrap, topic, partitions):
    a = admin(bootstrap)
    a.create_topics([NewTopic(topic, num_partitions=int(partitions), replication_factor=1)])
    a.close()
    out({"created": topic})


def delete(bootstrap, topic):
    a = admin(bootstrap)
    a.delete_topics([topic])
    a.close()
    out({"deleted": topic})


def topics(bootstrap):
    c = KafkaConsumer(bootstrap_servers=bootstrap, **TIMEOUTS)
    names = c.topics()
    out({"topics": {name: len(c.partitions_for_topic(name) or []) for name in names}})
    c.close()


class Listener(ConsumerRebalanceListener):
    def on_partitions_revoked(self, revoked):
        out({"event": "revoked", "partitions": sorted(tp.partition for tp in revoked)})

    def on_partitions_assigned(self, assigned):
        out({"event": "assigned", "partitions": sorted(tp.partition for tp in assigned)})


def member(bootstrap, group, topic):
    commands = queue.Queue()
    threading.Thread(target=lambda: [commands.put(line.strip()) for line in sys.stdin], daemon=True).start()
    c = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=10000,
        heartbeat_interval_ms=300,
        fetch_max_wait_ms=200,
        **TIMEOUTS,
    )
    c.subscribe([topic], listener=Listener())
    while True:
        try:
            cmd = commands.get_nowait()
        except queue.Empty:
            cmd = None
        if cmd == "commit":
            c.commit()
            out({"event": "committed"})
        elif cmd == "close":
            c.close()
            out({"event": "closed"})
            return
        for records in c.poll(timeout_ms=100).values():
            for m in records:
                out(record(m))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"produce": produce, "consume": consume, "create": create, "delete": delete, "topics": topics, "member": member}[
        cmd
    ](*args)
