/**
 * The typed error of every configuration and start-up failure that a setting can fix: a value out of
 * bounds, a port in use, a data directory that is a file or read-only. It is a BrokerError with code
 * INVALID_CONFIG (the CLI exits 2 on it; a library caller of `startBroker()` catches it), and it names
 * the key and the value so that a caller can say which setting to change without parsing the message.
 */
import { BrokerError } from '../errors.ts';

export class ConfigError extends BrokerError {
  /** The config key, as in the YAML file (`network.grpc_port`). */
  readonly key: string;
  /** The value that was refused, as it was given. */
  readonly value: unknown;

  constructor(key: string, value: unknown, message: string, options?: { cause?: unknown }) {
    super('INVALID_CONFIG', message, options);
    this.name = 'ConfigError';
    this.key = key;
    this.value = value;
  }
}

function where(origin: string | undefined): string {
  return origin ? ` (from ${origin})` : '';
}

/** `key=value (from origin) is invalid: allowed`: a value the schema or a relation refuses. */
export function configError(key: string, value: unknown, allowed: string, origin?: string): ConfigError {
  return new ConfigError(
    key,
    value,
    `${key}=${JSON.stringify(value)}${where(origin)} is invalid: ${allowed}`,
  );
}

/** `key=value (from origin) cannot be used: problem`: a valid value the machine refuses at start-up. */
export function configUnusable(
  key: string,
  value: unknown,
  problem: string,
  origin?: string,
  cause?: unknown,
): ConfigError {
  return new ConfigError(
    key,
    value,
    `${key}=${JSON.stringify(value)}${where(origin)} cannot be used: ${problem}`,
    {
      cause,
    },
  );
}
