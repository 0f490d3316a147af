"""An idempotent confluent-kafka (librdkafka) producer for test/cluster/replication.test.ts.

Writes records py-<i> (key = value) with acks=all until its stdin closes, SIGTERM arrives or RUN_MAX_S
pass, then flushes for at most FLUSH_MAX_S and exits. One JSON line on stdout per event:
  {"event": "acked", "partition", "offset", "value", "atMs"}   a delivery report without error
  {"event": "failed", "value", "error"}                 a delivery report with an error
  {"event": "fatal", "error"}                           librdkafka's fatal error (the producer stops)
  {"event": "done", "produced", "undelivered"}          last line: records handed over, still unanswered
Usage: jepsen_producer.py BOOTSTRAP TOPIC    (BOOTSTRAP: addresses, comma-separated)
"""
import json
import os
import signal
import sys
import threading
import time

from confluent_kafka import Producer

# Bounds, so that a test that forgets to stop the producer, or a cluster that never answers, cannot
# keep it alive: the test's fault schedule takes about two minutes.
RUN_MAX_S = 300
FLUSH_MAX_S = 30
# At most this many records produced and not yet reported, and a pause between records: enough to keep
# every partition busy through the faults without starving the three brokers of the two shared cores.
IN_FLIGHT_MAX = 20
PAUSE_S = 0.01

stop = threading.Event()


def out(obj):
    print(json.dumps(obj), flush=True)


def watch_stdin():
    sys.stdin.read()  # returns at end of file: the test closed our stdin
    stop.set()


def main(bootstrap, topic):
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=watch_stdin, daemon=True).start()

    def on_error(err):
        # Non-fatal errors (a broker down, a connection reset) are librdkafka's to retry; only a fatal
        # one (an idempotence guarantee it can no longer keep) ends the run.
        if err.fatal():
            out({"event": "fatal", "error": str(err)})
            stop.set()

    p = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            # librdkafka's default partitioner is consistent_random (CRC32); murmur2_random is the
            # Java client's, as client_flows.py uses.
            "partitioner": "murmur2_random",
            "linger.ms": 5,
            "topic.metadata.refresh.interval.ms": 1000,
            # A request to a SIGSTOPped broker is never answered (its socket stays open): with
            # librdkafka's defaults (60 s locally, 30 s asked of the broker) the producer would wait
            # that long instead of retrying at the new leader through the stop, which is what it is
            # here to exercise.
            "socket.timeout.ms": 5000,
            "request.timeout.ms": 5000,
            "error_cb": on_error,
        }
    )
    outstanding = 0

    def delivered(err, msg):
        nonlocal outstanding
        outstanding -= 1
        value = msg.value().decode()
        if err is None:
            # The wall clock in ms, as the test stamps its own producers' acknowledgements.
            at_ms = int(time.time() * 1000)
            out({"event": "acked", "partition": msg.partition(), "offset": msg.offset(), "value": value, "atMs": at_ms})
        else:
            out({"event": "failed", "value": value, "error": str(err)})

    deadline = time.monotonic() + RUN_MAX_S
    produced = 0
    while not stop.is_set() and time.monotonic() < deadline:
        if outstanding >= IN_FLIGHT_MAX:
            p.poll(0.05)
            continue
        value = f"py-{produced}"
        try:
            p.produce(topic, key=value, value=value, on_delivery=delivered)
        except BufferError:
            p.poll(0.05)
            continue
        produced += 1
        outstanding += 1
        p.poll(PAUSE_S)
    undelivered = p.flush(FLUSH_MAX_S)
    out({"event": "done", "produced": produced, "undelivered": undelivered})
    sys.stdout.flush()
    # Not the Producer's destructor: with records still unanswered it may wait on the brokers.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
