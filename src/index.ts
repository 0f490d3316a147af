/**
 * The package's entry point for embedding: `startBroker()` runs a broker in this process.
 * The client lives at the `/client` entry point and imports nothing from here.
 */

export { ConfigError } from './config/config-error.ts';
export { type BrokerConfig, loadConfig } from './config/load.ts';
export { BrokerError, ERROR_CODES, type ErrorCode } from './errors.ts';
export { type RunningBroker, runBroker, type StartOptions, startBroker } from './server.ts';
export {
  type ClusterNode,
  type ClusterNodeOptions,
  type RunningCluster,
  type StartClusterOptions,
  startCluster,
} from './start-cluster.ts';
