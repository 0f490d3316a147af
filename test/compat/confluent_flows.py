"""confluent-kafka-python (Debian's, over librdkafka 2.0.2) flows for test/compat/confluent-kafka.test.ts.

Every command prints JSON lines on stdout. Usage:
  produce BOOTSTRAP TOPIC CODEC PREFIX COUNT PARTITION [idempotent]
  consume BOOTSTRAP TOPIC PARTITION COUNT        read a partition from the beginning, COUNT records
  create BOOTSTRAP TOPIC PARTITIONS | delete BOOTSTRAP TOPIC | topics BOOTSTRAP
  member BOOTSTRAP GROUP TOPIC                   a group member; stdin: "commit", "close"
"""
import json
import queue
import sys
import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def out(obj):
    print(json.dumps(obj), flush=True)


def record(m):
    return {
        "event": "record",
        "topic": m.topic(),
        "partition": m.partition(),
        "offset": m.offset(),
        "key": m.key().decode() if m.key() is not None else None,
        "value": m.value().decode() if m.value() is not None else None,
    }


def produce(bootstrap, topic, codec, prefix, count, partition, idempotent=False):
    conf = {"bootstrap.servers": bootstrap, "compression.type": codec, "linger.ms": 5, "acks": "all"}
    if idempotent:
        conf["enable.idempotence"] = True
    p = Producer(conf)
    errors = []

    def delivered(err, _msg):
        if err is not None:
            errors.append(str(err))

    for i in range(int(count)):
        p.produce(topic, value=f"{prefix}-{i}", key=f"k{i}", partition=int(partition), on_delivery=delivered)
    left = p.flush(30)
    if left or errors:
        raise SystemExit(f"undelivered: {left}, errors: {errors}")
    out({"produced": int(count)})


def consume(bootstrap, topic, partition, count):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "confluent-reader", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, int(partition), OFFSET_BEGINNING)])
    got = 0
    deadline = time.time() + 30
    while got < int(count) and time.time() < deadline:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            raise KafkaException(m.error())
        out(record(m))
        got += 1
    c.close()
    if got < int(count):
        raise SystemExit(f"only {got} of {count} records")


def admin(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap})


# The AdminClient is kept in a variable: a temporary one is destroyed before its futures complete.
def create(bootstrap, topic, partitions):
    a = admin(bootstrap)
    for _, f in a.create_topics([NewTopic(topic, num_partitions=int(partitions), replication_factor=1)]).items():
        f.result(30)
    out({"created": topic})


def delete(bootstrap, topic):
    a = admin(bootstrap)
    for _, f in a.delete_topics([topic]).items():
        f.result(30)
    out({"deleted": topic})


def topics(bootstrap):
    md = admin(bootstrap).list_topics(timeout=30)
    out({"topics": {name: len(t.partitions) for name, t in md.topics.items()}})


def member(bootstrap, group, topic):
    commands = queue.Queue()
    threading.Thread(target=lambda: [commands.put(line.strip()) for line in sys.stdin], daemon=True).start()
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 300,
        }
    )

    def on_assign(_c, parts):
        out({"event": "assigned", "partitions": sorted(p.partition for p in parts)})

    def on_revoke(_c, parts):
        out({"event": "revoked", "partitions": sorted(p.partition for p in parts)})

    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    while True:
        try:
            cmd = commands.get_nowait()
        except queue.Empty:
            cmd = None
        if cmd == "commit":
            try:
                c.commit(asynchronous=False)
                out({"event": "committed"})
            except KafkaException as e:
                out({"event": "commit-failed", "error": str(e)})
        elif cmd == "close":
            c.close()
            out({"event": "closed"})
            return
        m = c.poll(0.1)
        if m is None:
            continue
        if m.error():
            out({"event": "error", "error": str(m.error())})
            continue
        out(record(m))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "produce":
        produce(*args[:6], idempotent=len(args) > 6 and args[6] == "idempotent")
    else:
        {"consume": consume, "create": create, "delete": delete, "topics": topics, "member": member}[cmd](*args)
