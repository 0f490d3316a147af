/**
 * `broker`: parse flags, build the config, start the node; on SIGTERM or SIGINT shut down cleanly and
 * exit 0. An invalid configuration exits with code 2 and a message naming the key, the value and what
 * is allowed.
 */
import { HELP, loadConfig } from '../config/load.ts';
import { isBrokerError } from '../errors.ts';
import { runBroker } from '../server.ts';

let loaded: ReturnType<typeof loadConfig>;
try {
  loaded = loadConfig(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`broker: ${(err as Error).message}\n`);
  process.exit(2);
}
if (loaded.help) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}

try {
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
  process.exit(isBrokerError(err, 'INVALID_CONFIG') ? 2 : 1);
}
