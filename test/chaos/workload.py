"""The librdkafka side of a chaos run's workload (test/chaos/run.ts), with confluent-kafka-python.

  workload.py produce BOOTSTRAP TOPIC CLIENT IDEMPOTENT T0_MS
      Writes records CLIENT-<n> (key = value) with acks=all, idempotent when IDEMPOTENT is 1, until
      stdin closes or SIGTERM arrives, then flushes for at most FLUSH_MAX_S.
  workload.py consume BOOTSTRAP TOPIC GROUP CLIENT T0_MS
      A member of consumer group GROUP reading TOPIC from the earliest offset; after each poll that
      returned records it commits the next offset of each partition it read, synchronously.

Both print history operations as JSON lines (test/chaos/history.ts), with times in ms since T0_MS (the
harness's start, on the wall clock both processes share). A send's outcome is "ok" with its offset, or
"unknown" on any error: librdkafka retries internally, so an error does not prove that no attempt was
written. Records still unanswered at exit are printed as unknown with no end time.
Both stop by themselves after RUN_MAX_S, whatever the harness does.
"""
import json
import os
import signal
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

RUN_MAX_S = 1800
FLUSH_MAX_S = 20
# Records produced and not yet answered, and a pause between records: a steady load that leaves the
# brokers most of the two shared cores.
IN_FLIGHT_MAX = 20
PAUSE_S = 0.01

stop = threading.Event()
t0_ms = 0.0


def now():
    return round(time.time() * 1000 - t0_ms)


def out(obj):
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def watch_stdin():
    sys.stdin.read()  # returns at end of file: the harness closed our stdin
    stop.set()


def common(bootstrap):
    # librdkafka's debug contexts, logged to stderr (the harness keeps it as clients/<name>.log):
    # "topic" by default, which names every offset reset and leader change at small cost;
    # CHAOS_LIBRDKAFKA_DEBUG overrides it ("fetch,consumer,topic" for everything, "" for nothing).
    debug = os.environ.get("CHAOS_LIBRDKAFKA_DEBUG", "topic")
    return {
        **({"debug": debug} if debug else {}),
        "bootstrap.servers": bootstrap,
        "topic.metadata.refresh.interval.ms": 1000,
        # A SIGSTOPped broker never answers while its socket stays open: with librdkafka's 60 s default
        # a client would wait that long instead of moving to the new leader or coordinator.
        "socket.timeout.ms": 5000,
        "reconnect.backoff.max.ms": 1000,
    }


def produce(bootstrap, topic, client, idempotent):
    idem = idempotent == "1"
    p = Producer(
        {
            **common(bootstrap),
            "enable.idempotence": idem,
            "acks": "all",
            "partitioner": "murmur2_random",
            "linger.ms": 5,
            "request.timeout.ms": 5000,
            "error_cb": lambda err: err.fatal() and (out({"op": "info", "client": client, "at": now(), "fatal": str(err)}), stop.set()),
        }
    )
    pending = {}

    def delivered(err, msg):
        value = msg.value().decode()
        start = pending.pop(value, None)
        op = {"op": "send", "client": client, "idempotent": idem, "value": value, "start": start, "end": now()}
        if err is None:
            op["outcome"] = "ok"
            op["partition"] = msg.partition()
            # librdkafka reports some idempotent deliveries without an offset (-1001): the record was
            # stored (a later sequence was acknowledged) but it does not know where.
            if msg.offset() is not None and msg.offset() >= 0:
                op["offset"] = msg.offset()
        else:
            op["outcome"] = "unknown"
            op["error"] = str(err)
        out(op)

    deadline = time.monotonic() + RUN_MAX_S
    n = 0
    while not stop.is_set() and time.monotonic() < deadline:
        if len(pending) >= IN_FLIGHT_MAX:
            p.poll(0.05)
            continue
        value = f"{client}-{n}"
        try:
            pending[value] = now()
            p.produce(topic, key=value, value=value, on_delivery=delivered)
        except BufferError:
            pending.pop(value, None)
            p.poll(0.05)
            continue
        except KafkaException as err:
            # After a fatal error the producer refuses new records: the run of this producer ends.
            pending.pop(value, None)
            out({"op": "info", "client": client, "at": now(), "fatal": str(err)})
            break
        n += 1
        p.poll(PAUSE_S)
    p.flush(FLUSH_MAX_S)
    for value, start in pending.items():
        out({"op": "send", "client": client, "idempotent": idem, "value": value, "start": start, "end": None, "outcome": "unknown", "error": "no answer before exit"})
    sys.stdout.flush()
    # Not the Producer's destructor: with records still unanswered it may wait on the brokers.
    os._exit(0)


def consume(bootstrap, topic, group, client):
    def on_assign(consumer, partitions):
        out({"op": "assign", "consumer": client, "at": now(), "partitions": sorted(tp.partition for tp in partitions)})

    def on_revoke(consumer, partitions):
        out({"op": "revoke", "consumer": client, "at": now(), "partitions": sorted(tp.partition for tp in partitions)})

    c = Consumer(
        {
            **common(bootstrap),
            "group.id": group,
            "client.id": client,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 500,
            "max.poll.interval.ms": 60000,
            "fetch.wait.max.ms": 200,
        }
    )
    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    deadline = time.monotonic() + RUN_MAX_S
    while not stop.is_set() and time.monotonic() < deadline:
        start = now()
        msgs = c.consume(num_messages=200, timeout=0.2)
        records = []
        for m in msgs:
            if m.error() is None:
                records.append([m.partition(), m.offset(), m.value().decode()])
            elif m.error().code() != KafkaError._PARTITION_EOF:
                out({"op": "info", "consumer": client, "at": now(), "error": str(m.error())})
        if not records:
            continue
        out({"op": "poll", "consumer": client, "start": start, "end": now(), "records": records})
        nexts = {}
        for part, offset, _ in records:
            nexts[part] = max(nexts.get(part, -1), offset + 1)
        start = now()
        offsets = {str(k): v for k, v in nexts.items()}
        try:
            c.commit(offsets=[TopicPartition(topic, k, v) for k, v in nexts.items()], asynchronous=False)
            out({"op": "commit", "consumer": client, "start": start, "end": now(), "outcome": "ok", "offsets": offsets})
        except Exception as err:  # a KafkaException: the commit may or may not have been stored
            out({"op": "commit", "consumer": client, "start": start, "end": now(), "outcome": "unknown", "offsets": offsets, "error": str(err)})
    try:
        c.close()
    finally:
        sys.stdout.flush()
        os._exit(0)


def main(argv):
    global t0_ms
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=watch_stdin, daemon=True).start()
    mode = argv[1]
    t0_ms = float(argv[-1])
    if mode == "produce":
        produce(argv[2], argv[3], argv[4], argv[5])
    elif mode == "consume":
        consume(argv[2], argv[3], argv[4], argv[5])
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv)
