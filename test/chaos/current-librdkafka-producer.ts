/**
 * The idempotent producer of a chaos run's workload, through a current librdkafka: the one inside
 * @confluentinc/kafka-javascript (2.15), the client Node teams are told to pick. Debian's librdkafka
 * (2.0.2, confluent-kafka-python) has a defect fixed in 2.3.0 (librdkafka PR #4438): after a request
 * that timed out, a batch the broker refuses with OUT_OF_ORDER_SEQUENCE_NUMBER is taken for a lost
 * sequence and the producer stops with a fatal "sequence desynchronization", although the broker
 * answered as Kafka does. The harness found that under every pause and partition of a leader.
 *
 *   node current-librdkafka-producer.ts BOOTSTRAP TOPIC CLIENT T0_MS
 *
 * Writes CLIENT-<n> (key = value), idempotent with acks=all, until stdin closes or SIGTERM, then flushes
 * for at most 20 s. Prints history operations as JSON lines (test/chaos/history.ts), as workload.py
 * does: one `send` per delivery report, `unknown` for any error and for what is unanswered at exit,
 * and an `info` line for a fatal error. Stops by itself after 30 minutes.
 */
import { createRequire } from 'node:module';

// biome-ignore lint/suspicious/noExplicitAny: the package's node-rdkafka API, used as documented
const { Producer } = createRequire(import.meta.url)('@confluentinc/kafka-javascript') as { Producer: any };

const [bootstrap, topic, client, t0Arg] = process.argv.slice(2);
if (!bootstrap || !topic || !client || !t0Arg) {
  process.stderr.write('usage: current-librdkafka-producer.ts BOOTSTRAP TOPIC CLIENT T0_MS\n');
  process.exit(2);
}
const t0 = Number(t0Arg);
const now = () => Date.now() - t0;
const out = (op: object) => process.stdout.write(`${JSON.stringify(op)}\n`);

const RUN_MAX_MS = 30 * 60_000;
const FLUSH_MAX_MS = 20_000;
/** Records produced and not yet answered, as workload.py keeps. */
const IN_FLIGHT_MAX = 20;

const pending = new Map<string, number>();
let stopping = false;
let n = 0;

const producer = new Producer(
  {
    'bootstrap.servers': bootstrap,
    'client.id': client,
    'enable.idempotence': true,
    acks: 'all',
    partitioner: 'murmur2_random',
    'linger.ms': 5,
    'request.timeout.ms': 5000,
    'socket.timeout.ms': 5000,
    'topic.metadata.refresh.interval.ms': 1000,
    'reconnect.backoff.max.ms': 1000,
    // Delivery reports with the message, so each names the value it answers.
    dr_msg_cb: true,
    // librdkafka's log to stderr (the harness keeps it as clients/librdkafka-idem.log): the "eos" and
    // "topic" contexts name every epoch bump, sequence reset and leader change, as workload.py's do.
    debug: process.env.CHAOS_LIBRDKAFKA_DEBUG ?? 'eos,topic',
    event_cb: true,
  },
  {},
);

producer.on(
  'delivery-report',
  (err: { message?: string } | null, report: { value?: Buffer; partition: number; offset: number }) => {
    const value = String(report.value);
    const start = pending.get(value) ?? null;
    pending.delete(value);
    const op: Record<string, unknown> = { op: 'send', client, idempotent: true, value, start, end: now() };
    if (err) Object.assign(op, { outcome: 'unknown', error: String(err.message ?? err) });
    else {
      op.outcome = 'ok';
      op.partition = report.partition;
      if (typeof report.offset === 'number' && report.offset >= 0) op.offset = report.offset;
    }
    out(op);
  },
);
producer.on('event.log', (l: { severity: number; fac: string; message: string }) =>
  process.stderr.write(`${l.severity}|${l.fac}|${l.message}\n`),
);
producer.on('event.error', (err: { isFatal?: boolean; message?: string; code?: number }) => {
  // librdkafka retries everything but a fatal error, which ends this producer's run.
  if (err.isFatal) {
    out({ op: 'info', client, at: now(), fatal: String(err.message ?? err) });
    stopping = true;
  }
});

function finish(): void {
  stopping = true;
  producer.flush(FLUSH_MAX_MS, () => {
    for (const [value, start] of pending)
      out({
        op: 'send',
        client,
        idempotent: true,
        value,
        start,
        end: null,
        outcome: 'unknown',
        error: 'no answer before exit',
      });
    process.exit(0);
  });
}

process.on('SIGTERM', () => (stopping = true));
process.stdin.on('end', () => (stopping = true));
process.stdin.resume();
setTimeout(() => (stopping = true), RUN_MAX_MS).unref();

producer.setPollInterval(10);
producer.connect({}, (err: unknown) => {
  if (err) {
    process.stderr.write(`cannot connect: ${String(err)}\n`);
    process.exit(1);
  }
  const tick = () => {
    if (stopping) return finish();
    // One record per tick, as workload.py paces its producers, with at most IN_FLIGHT_MAX unanswered.
    if (pending.size < IN_FLIGHT_MAX) {
      const value = `${client}-${n}`;
      try {
        pending.set(value, now());
        producer.produce(topic, null, Buffer.from(value), value);
        n++;
      } catch (e) {
        pending.delete(value);
        // A full local queue: try again on the next tick. A fatal error: the run ends.
        if (/fatal/i.test(String(e))) {
          out({ op: 'info', client, at: now(), fatal: String(e) });
          return finish();
        }
      }
    }
    setTimeout(tick, 10);
  };
  tick();
});
