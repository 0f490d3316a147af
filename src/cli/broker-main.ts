/**
 * `broker`: parse flags, build the config, start the node; on SIGTERM or SIGINT shut down cleanly and
 * exit 0. Any failure to start exits with code 2: an invalid value, a port in use or an unusable data
 * directory with a message naming the key, the value and what is wrong. Unknown BROKER_* environment
 * variables are warned about on stderr, with the nearest known one. `broker stop` is broker-stop.ts.
 */
import { HELP, loadConfig } from '../config/load.ts';

if (process.argv[2] === 'stop') {
  const { brokerStop } = await import('./broker-stop.ts');
  process.exit(await brokerStop(process.argv.slice(3)));
}

let loaded: ReturnType<typeof loadConfig>;
try {
  loaded = loadConfig(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`broker: ${(err as Error).message}\n`);
  process.exit(2);
}
for (const warning of loaded.warnings) process.stderr.write(`broker: warning: ${warning}\n`);
if (loaded.help) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}

// The signal handlers go in before the start, not after it: the broker logs "broker ready" from inside
// runBroker(), and a supervisor (or a test) that sends SIGTERM on that line must get a clean shutdown,
// not Node's default of dying at once. A signal during the start is remembered and acted on when the
// start ends.
let broker: Awaited<ReturnType<typeof import('../server.ts').runBroker>> | null = null;
let pending: string | null = null;
let signals = 0;
const stop = (signal: string) => {
  if (++signals > 1) {
    broker?.logger.warn({ signal }, 'second signal: exiting without a clean shutdown');
    process.exit(1);
  }
  if (!broker) {
    pending = signal;
    return;
  }
  broker.logger.info({ signal }, 'signal received');
  broker.close().then(
    () => process.exit(0),
    (err) => {
      broker?.logger.error({ err: String(err) }, 'shutdown failed');
      process.exit(1);
    },
  );
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));

try {
  // Loaded only now, so that --help and a bad flag answer without loading gRPC, pino and the core.
  const { runBroker } = await import('../server.ts');
  broker = await runBroker(loaded.config, undefined, { pidFile: true });
} catch (err) {
  process.stderr.write(`broker: cannot start: ${(err as Error).message}\n`);
  process.exit(2);
}
if (pending) {
  signals = 0;
  stop(pending);
}
