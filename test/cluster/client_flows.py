"""Keyed produce and group consume for test/cluster/clients.test.ts, with either Python client.

LIB is "confluent" (confluent-kafka-python over librdkafka) or "kafka-python". Every command prints
JSON lines on stdout. Usage:
  produce LIB BOOTSTRAP TOPIC FROM COUNT    records k<i>:v<i> for i in FROM..FROM+COUNT-1, partitioned
                                            by key (Kafka's murmur2 default partitioner)
  consume LIB BOOTSTRAP GROUP TOPIC COUNT   a member of GROUP reads COUNT records (one line each),
                                            commits them, then prints what the group has committed
BOOTSTRAP is one address or several, comma-separated.
"""
import json
import sys
import time

WAIT_S = 60


def out(obj):
    print(json.dumps(obj), flush=True)


def record(topic, partition, offset, key, value):
    return {
        "event": "record",
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": key.decode() if key is not None else None,
        "value": value.decode() if value is not None else None,
    }


def keyed(first, count):
    return ((f"k{i}", f"v{i}") for i in range(int(first), int(first) + int(count)))


def confluent_produce(bootstrap, topic, first, count):
    from confluent_kafka import Producer

    # librdkafka's default partitioner is consistent_random (CRC32); murmur2_random is the Java
    # client's for keyed records.
    p = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "acks": "all", "linger.ms": 5})
    errors = []

    def delivered(err, _msg):
        if err is not None:
            errors.append(str(err))

    for key, value in keyed(first, count):
        while True:
            try:
                p.produce(topic, key=key, value=value, on_delivery=delivered)
                break
            except BufferError:
                p.poll(0.05)  # the local queue is full: serve delivery reports and try again
    left = p.flush(WAIT_S)
    if left or errors:
        raise SystemExit(f"undelivered: {left}, errors: {errors[:10]}")
    out({"event": "produced", "count": int(count)})


def confluent_consume(bootstrap, group, topic, count):
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 300,
            "topic.metadata.refresh.interval.ms": 1000,
        }
    )
    c.subscribe([topic])
    got = 0
    deadline = time.time() + WAIT_S
    while got < int(count) and time.time() < deadline:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            out({"event": "error", "error": str(m.error())})
            continue
        out(record(m.topic(), m.partition(), m.offset(), m.key(), m.value()))
        got += 1
    if got < int(count):
        raise SystemExit(f"only {got} of {count} records within {WAIT_S} s")
    try:
        c.commit(asynchronous=False)
    except KafkaException as e:
        raise SystemExit(f"commit failed: {e}")
    partitions = c.list_topics(topic, timeout=30).topics[topic].partitions
    committed = c.committed([TopicPartition(topic, p) for p in partitions], timeout=30)
    out({"event": "committed", "offsets": {str(tp.partition): tp.offset for tp in committed}})
    c.close()


TIMEOUTS = {"request_timeout_ms": 30000, "api_version_auto_timeout_ms": 10000}


def kafka_python_produce(bootstrap, topic, first, count):
    from kafka import KafkaProducer

    # kafka-python's DefaultPartitioner is the Java client's murmur2.
    p = KafkaProducer(bootstrap_servers=bootstrap.split(","), acks="all", linger_ms=5, **TIMEOUTS)
    futures = [p.send(topic, key=key.encode(), value=value.encode()) for key, value in keyed(first, count)]
    p.flush(WAIT_S)
    for f in futures:
        f.get(WAIT_S)
    p.close(10)
    out({"event": "produced", "count": int(count)})


def kafka_python_consume(bootstrap, group, topic, count):
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(
        bootstrap_servers=bootstrap.split(","),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=10000,
        heartbeat_interval_ms=300,
        fetch_max_wait_ms=200,
        metadata_max_age_ms=1000,
        **TIMEOUTS,
    )
    c.subscribe([topic])
    got = 0
    deadline = time.time() + WAIT_S
    while got < int(count) and time.time() < deadline:
        for records in c.poll(timeout_ms=200, max_records=int(count) - got).values():
            for m in records:
                out(record(m.topic, m.partition, m.offset, m.key, m.value))
                got += 1
    if got < int(count):
        raise SystemExit(f"only {got} of {count} records within {WAIT_S} s")
    c.commit()
    offsets = {str(p): c.committed(TopicPartition(topic, p)) for p in sorted(c.partitions_for_topic(topic))}
    out({"event": "committed", "offsets": offsets})
    c.close()


FLOWS = {
    ("confluent", "produce"): confluent_produce,
    ("confluent", "consume"): confluent_consume,
    ("kafka-python", "produce"): kafka_python_produce,
    ("kafka-python", "consume"): kafka_python_consume,
}

if __name__ == "__main__":
    cmd, lib, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    FLOWS[(lib, cmd)](*args)
