/**
 * `broker`: parse flags, build the config, start the node; on SIGTERM or SIGINT shut down cleanly and
 * exit 0. Any failure to start exits with code 2: an invalid value, a port in use or an unusable data
 * directory with a message naming the key, the value and what is wrong. Unknown BROKER_* environment
 * variables are warned about on stderr, with the nearest known one.
 */
import { HELP, loadConfig } from '../config/load.ts';

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

try {
  // Loaded only now, so that --help and a bad flag answer without loading gRPC, pino and the core.
  const { runBroker } = await import('../server.ts');
  const broker = await runBroker(loaded.config);
  let signals = 0;
  const stop = (signal: string) => {
    if (++signals > 1) {
      broker.logger.warn({ signal }, 'second signal: exiting without a clean shutdown');
      process.exit(1);
    }
    broker.logger.info({ signal }, 'signal received');
    broker.close().then(
      () => process.exit(0),
      (err) => {
        broker.logger.error({ err: String(err) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
} catch (err) {
  process.stderr.write(`broker: cannot start: ${(err as Error).message}\n`);
  process.exit(2);
}
