/**
 * `startBroker()`: one broker node in this process, wired from its config: storage and core, the gRPC
 * door, HTTP health and metrics. The `broker` CLI and embedded use (tests, `import { startBroker }`)
 * take this same path.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GrpcForwarder } from './api/grpc/cluster.ts';
import { GrpcServer } from './api/grpc/server.ts';
import { BrokerKafkaHandler } from './api/kafka/handlers/broker-handler.ts';
import { ReplicationKafkaHandler } from './api/kafka/handlers/replica-fetch.ts';
import { KafkaServer } from './api/kafka/server.ts';
import { BrokerCore } from './broker/core.ts';
import { defaultCoordinatorConfig } from './broker/groups/coordinator.ts';
import { GroupService } from './broker/groups/service.ts';
import { ConfigError } from './config/config-error.ts';
import {
  type BrokerConfig,
  type ConfigField,
  configUnusable,
  FIELD_KEYS,
  loadConfig,
  numericNodeId,
  originOf,
  validateConfig,
} from './config/load.ts';
import { isBrokerError } from './errors.ts';
import { Metrics } from './http/metrics.ts';
import { HttpServer } from './http/server.ts';
import { createLogger, type Logger } from './logging.ts';
import { claimDataDir, claimPidFile, listenFailure, prepareDataDir } from './start-up.ts';

export interface RunningBroker {
  readonly config: BrokerConfig;
  /** The cluster id from `<data-dir>/meta/meta.properties`, as Kafka Metadata and GetServers report it. */
  readonly clusterId: string;
  readonly grpcPort: number;
  readonly kafkaPort: number;
  readonly metricsPort: number;
  /** `host:port` of the Kafka protocol listener, for Kafka clients. */
  readonly kafkaAddress: string;
  /** `host:port` of the gRPC API, for clients. */
  readonly grpcAddress: string;
  readonly dataDir: string;
  readonly core: BrokerCore;
  readonly groups: GroupService;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /**
   * Stops accepting requests, lets those in flight finish, flushes and fsyncs every log, marks the
   * shutdown clean, and closes the listeners.
   */
  close(): Promise<void>;
}

export interface StartOptions extends Partial<Omit<BrokerConfig, 'sources' | 'numericNodeId'>> {
  /** A ready-made logger; otherwise one is made from logLevel and logFormat. */
  logger?: Logger;
}

/**
 * Embedded defaults differ from the CLI's: every port is 0 (ephemeral), the data directory is a new
 * temporary one (removed on close), and logs are at `warn`, so that tests start brokers freely.
 * It never exits the process: a bad option, a port in use or an unusable data directory rejects with a
 * ConfigError (code INVALID_CONFIG) naming the key and the value.
 */
export async function startBroker(options: StartOptions = {}): Promise<RunningBroker> {
  const { config: base } = loadConfig([], {});
  const ownsDataDir = options.dataDir === undefined;
  const sources = { ...base.sources };
  for (const field of Object.keys(options))
    if (field in FIELD_KEYS) sources[FIELD_KEYS[field as ConfigField]] = 'option';
  const config: BrokerConfig = {
    ...base,
    grpcPort: 0,
    kafkaPort: 0,
    raftPort: 0,
    dataPort: 0,
    metricsPort: 0,
    bindAddr: '127.0.0.1',
    logLevel: 'warn',
    ...options,
    // Derived from the name, as loadConfig derives it; String() lets a name that is no string reach
    // validateConfig, which says so.
    numericNodeId: numericNodeId(String(options.nodeId ?? base.nodeId), originOf({ sources }, 'node.id')),
    dataDir: options.dataDir ?? mkdtempSync(path.join(tmpdir(), 'tsbroker-')),
    sources,
  };
  let broker: RunningBroker;
  try {
    broker = await runBroker(config, options.logger);
  } catch (err) {
    if (ownsDataDir) rmSync(config.dataDir, { recursive: true, force: true });
    throw err;
  }
  if (!ownsDataDir) return broker;
  return {
    ...broker,
    close: async () => {
      await broker.close();
      rmSync(config.dataDir, { recursive: true, force: true });
    },
  };
}

export interface RunOptions {
  /**
   * Writes `<data-dir>/broker.pid` once the data directory is claimed, holds it while the broker runs
   * and removes it at the end of a clean close, for `broker stop` (pid-file.ts). The CLI sets it; an
   * embedded broker shares its process with its host, which `broker stop` must never signal.
   * @default false
   */
  pidFile?: boolean;
}

/**
 * Starts a node from a complete config (the CLI's path). Every failure that a setting can fix rejects
 * with a ConfigError naming its key; what was started before it is closed first.
 */
export async function runBroker(
  config: BrokerConfig,
  givenLogger?: Logger,
  options: RunOptions = {},
): Promise<RunningBroker> {
  validateConfig(config);
  const logger =
    givenLogger ?? createLogger({ nodeId: config.nodeId, level: config.logLevel, format: config.logFormat });
  await prepareDataDir(config);
  const forwarder = new GrpcForwarder();
  // A node that joins learns the cluster's id from the node it joins through (DESIGN.md decision 5).
  const joinedClusterId = await askJoinedCluster(config, forwarder);
  // Before anything opens the directory: it must be this node's (DESIGN.md decision 4).
  const { clusterId } = await claimDataDir(
    config,
    logger,
    joinedClusterId === null ? {} : { clusterId: joinedClusterId },
  ).catch((err: unknown) => {
    forwarder.close();
    throw err;
  });
  if (!options.pidFile) return openNode(config, logger, forwarder, clusterId);
  const pidFile = await claimPidFile(config, logger).catch((err: unknown) => {
    forwarder.close();
    throw err;
  });
  let broker: RunningBroker;
  try {
    broker = await openNode(config, logger, forwarder, clusterId);
  } catch (err) {
    await pidFile.release();
    throw err;
  }
  // Removed last, once the logs are flushed: a pid file left behind tells `broker stop` the shutdown
  // was not clean.
  return { ...broker, close: () => broker.close().then(() => pidFile.release()) };
}

/** The rest of runBroker, once the data directory is this node's: everything it opens and serves. */
async function openNode(
  config: BrokerConfig,
  logger: Logger,
  forwarder: GrpcForwarder,
  clusterId: string,
): Promise<RunningBroker> {
  const metrics = new Metrics(config.nodeId);
  let state: 'starting' | 'ready' | 'stopping' = 'starting';
  // Set once the core is open: readiness and the controller gauge read the cluster through it.
  let coreRef: BrokerCore | null = null;
  const isLeader = () => coreRef?.cluster.controller.active ?? false;
  const role = (): 'LEADER' | 'FOLLOWER' | 'NOT_READY' =>
    state !== 'ready' || !coreRef?.cluster.ready ? 'NOT_READY' : isLeader() ? 'LEADER' : 'FOLLOWER';

  const http = new HttpServer({ metrics, readiness: role });
  const metricsPort = await http.listen(config.bindAddr, config.metricsPort).catch((err: unknown) => {
    throw listenFailure(config, 'network.metrics_port', config.metricsPort, err);
  });

  let core: BrokerCore;
  try {
    core = await BrokerCore.open({
      dataDir: config.dataDir,
      nodeId: config.nodeId,
      defaults: {
        log: {
          segmentBytes: config.segmentBytes,
          fsync: config.fsync,
          fsyncIntervalMs: config.fsyncIntervalMs,
          retentionMs: config.retentionMs,
          retentionBytes: config.retentionBytes,
          maxMessageBytes: config.maxMessageBytes,
        },
        compressionType: config.producerCompression ? 'producer' : config.compressionDefault,
        encodeCodec: config.compressionDefault,
        minInsyncReplicas: 1,
      },
      defaultPartitions: config.defaultPartitions,
      partitionsMax: effectivePartitionsMax(config, logger),
      cleanupIntervalMs: config.cleanupIntervalMs,
      replication: {
        partitionMaxBytes: config.replicationFetchBatchSize * 16 * 1024,
        responseMaxBytes: Math.min(10 * config.replicationFetchBatchSize * 16 * 1024, 55 * 1024 * 1024),
        maxWaitMs: config.replicationFetchIntervalMs,
        lagTimeMaxMs: config.replicationLagTimeMaxMs,
        reassignmentBytesPerSec: config.replicationReassignmentBytesPerSec,
      },
      logger,
      observer: metrics,
      numericNodeId: config.numericNodeId,
      cluster: {
        bindHost: config.bindAddr,
        advertisedHost: config.advertiseAddr,
        rack: config.rack === '' ? null : config.rack,
        raftPort: config.raftPort,
        controllerEligible: config.controller,
        quorumSize: config.controllerQuorumSize,
        joinAddr: config.joinAddr === '' ? null : config.joinAddr,
        heartbeatMs: config.clusterHeartbeatIntervalMs,
        sessionTimeoutMs: config.clusterSessionTimeoutMs,
        snapshotEntries: config.clusterSnapshotEntries,
        leaderRebalanceIntervalMs: config.clusterLeaderRebalanceIntervalMs,
        autoRebalance: config.clusterAutoRebalance,
        rebalanceMaxMoves: config.clusterRebalanceMaxMoves,
        defaultReplicationFactor: config.defaultReplicationFactor,
        forwarder,
        onFatal: (err) => {
          // The metadata log's disk failed: this node can no longer follow the cluster. It stays up to
          // answer /health and /ready (NOT_READY) for its supervisor, and says why.
          logger.error({ err: String(err) }, 'the metadata log stopped: this node is no longer ready');
          state = 'stopping';
        },
      },
    });
  } catch (err) {
    forwarder.close();
    await http.close();
    // The metadata log's Raft listener binds as the core opens: a port it cannot have is that key's.
    if ((err as NodeJS.ErrnoException)?.syscall === 'listen')
      throw listenFailure(config, 'network.raft_port', config.raftPort, err);
    if (isBrokerError(err, 'DUPLICATE_BROKER_REGISTRATION'))
      throw configUnusable('node.id', config.nodeId, err.message, originOf(config, 'node.id'), err);
    if (isBrokerError(err, 'INVALID_CONFIG') && !(err instanceof ConfigError))
      throw configUnusable(
        'cluster.controller_quorum_size',
        config.controllerQuorumSize,
        err.message,
        originOf(config, 'cluster.controller_quorum_size'),
        err,
      );
    if (
      config.joinAddr !== '' &&
      (isBrokerError(err, 'BROKER_NOT_AVAILABLE') ||
        isBrokerError(err, 'NOT_CONTROLLER') ||
        isBrokerError(err, 'REQUEST_TIMED_OUT'))
    )
      throw configUnusable(
        'cluster.join_addr',
        config.joinAddr,
        `this node could not register with the cluster through it: ${err.message}`,
        originOf(config, 'cluster.join_addr'),
        err,
      );
    throw dataDirFailure(config, err);
  }
  coreRef = core;
  const groups = new GroupService(core, {
    offsetsPartitions: config.offsetsPartitions,
    coordinator: { maxGroupSize: config.groupMaxSize },
    consumerGroups: {
      sessionTimeoutMs: config.consumerSessionTimeoutMs,
      heartbeatIntervalMs: config.consumerHeartbeatIntervalMs,
    },
    onSkippedRecord: (kind) => metrics.offsetsRecordsSkipped.inc({ kind }),
  });
  try {
    await groups.load();
  } catch (err) {
    await core.close();
    await http.close();
    throw dataDirFailure(config, err);
  }
  metrics.attach(
    core,
    isLeader,
    () => core.metadata.image.brokers.size,
    () => {
      const m = core.cluster.log.raft.metrics();
      const voters = core.cluster.log.raft.status().conf.voters.length;
      return {
        term: m.term,
        commitIndex: m.commitIndex,
        appliedIndex: m.appliedIndex,
        voters,
        snapshotIndex: m.snapshotIndex,
        snapshotsInstalled: m.snapshotsInstalled,
      };
    },
  );
  metrics.groupCollectors.push((members, lag) => {
    // A KIP-848 group's offsets sit in a classic entry of the same id; its members are the consumer group's.
    const ids = new Set([...groups.coordinator.groupIds(), ...groups.consumerGroups.groupIds()]);
    for (const id of ids) {
      const count =
        groups.consumerGroups.snapshot(id)?.members.length ??
        groups.coordinator.snapshot(id)?.members.length ??
        0;
      members.set({ group: id }, count);
      for (const l of groups.lag(id))
        lag.set({ group: id, topic: l.topic, partition: String(l.partition) }, l.lag);
    }
  });
  // One per committed batch of metadata records this node applied (a snapshot counts as one).
  core.cluster.log.onImage((_next, delta) => {
    if (delta === null || delta.recordCount > 0) metrics.metadataUpdates.inc();
  });

  let grpcPort = config.grpcPort;
  let kafkaPort = config.kafkaPort;
  const grpc = new GrpcServer({
    core,
    groups,
    groupDefaults: {
      sessionTimeoutMs: config.sessionTimeoutMs,
      rebalanceTimeoutMs: config.rebalanceTimeoutMs,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
    },
    self: () => ({
      id: config.nodeId,
      nodeId: config.numericNodeId,
      address: `${config.advertiseAddr}:${grpcPort}`,
      kafkaPort,
    }),
    clusterId,
    isControllerLeader: isLeader,
    isReady: () => state === 'ready',
    observeRequest: (method, seconds, ok) =>
      metrics.requestDuration.observe({ api: 'grpc', method, outcome: ok ? 'ok' : 'error' }, seconds),
    logger,
  });
  try {
    grpcPort = await grpc.listen(config.bindAddr, config.grpcPort);
    core.cluster.doorsOpen();
  } catch (err) {
    await groups.close();
    await core.close();
    await http.close();
    throw listenFailure(config, 'network.grpc_port', config.grpcPort, err);
  }
  const kafkaHandler = new BrokerKafkaHandler({
    core,
    groups,
    logger,
    nodeId: config.numericNodeId,
    advertised: () => ({ host: config.advertiseAddr, port: kafkaPort }),
    autoCreateTopics: config.autoCreateTopics,
    clusterId,
    brokerConfigs: {
      'num.partitions': String(config.defaultPartitions),
      'auto.create.topics.enable': String(config.autoCreateTopics),
      'log.segment.bytes': String(config.segmentBytes),
      'log.retention.ms': String(config.retentionMs),
      'log.retention.bytes': String(config.retentionBytes),
      'message.max.bytes': String(config.maxMessageBytes),
      'offsets.topic.num.partitions': String(config.offsetsPartitions),
      'group.min.session.timeout.ms': String(defaultCoordinatorConfig.minSessionTimeoutMs),
      'group.max.session.timeout.ms': String(defaultCoordinatorConfig.maxSessionTimeoutMs),
      'group.max.size': String(config.groupMaxSize),
      'log.dirs': config.dataDir,
      'log.retention.check.interval.ms': String(config.cleanupIntervalMs),
    },
  });
  const kafka = new KafkaServer({
    host: config.bindAddr,
    port: config.kafkaPort,
    logger,
    idleMs: config.kafkaConnectionsMaxIdleMs,
    receiveMsMax: config.kafkaRequestReceiveTimeoutMs,
    queuedRequestBytesMax: config.kafkaQueuedMaxRequestBytes,
    observer: metrics.kafkaListener,
    // Times every Kafka request into the same histogram as the gRPC door's, labelled api="kafka". A
    // response carrying error codes is still "ok" here: only a failed handler (a closed connection) is not.
    handler: {
      async handle(ctx, request) {
        const started = process.hrtime.bigint();
        let ok = false;
        try {
          const response = await kafkaHandler.handle(ctx, request);
          ok = true;
          return response;
        } finally {
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          metrics.requestDuration.observe(
            { api: 'kafka', method: ctx.apiName, outcome: ok ? 'ok' : 'error' },
            seconds,
          );
        }
      },
    },
  });
  try {
    kafkaPort = (await kafka.listen()).port;
  } catch (err) {
    await grpc.close();
    await groups.close();
    await core.close();
    await http.close();
    throw listenFailure(config, 'network.kafka_port', config.kafkaPort, err);
  }
  // The inter-broker listener: followers fetch from this node's leaderships here (DESIGN.md decision 6).
  const replicationHandler = new ReplicationKafkaHandler({ core });
  const dataListener = new KafkaServer({
    host: config.bindAddr,
    port: config.dataPort,
    logger,
    idleMs: config.kafkaConnectionsMaxIdleMs,
    receiveMsMax: config.kafkaRequestReceiveTimeoutMs,
    queuedRequestBytesMax: config.kafkaQueuedMaxRequestBytes,
    handler: replicationHandler,
  });
  let dataPort: number;
  try {
    dataPort = (await dataListener.listen()).port;
  } catch (err) {
    await Promise.all([grpc.close(), kafka.close()]);
    await groups.close();
    await core.close();
    await http.close();
    throw listenFailure(config, 'network.data_port', config.dataPort, err);
  }
  const advertised = { ...config, grpcPort, metricsPort, kafkaPort, dataPort };
  // Registered at first with the Raft listener only (the core opened before the doors listened): now
  // the other nodes and the clients learn where this node's doors are.
  const host = config.advertiseAddr;
  try {
    await core.cluster.updateListeners([
      { name: 'raft', host, port: core.cluster.log.port },
      { name: 'grpc', host, port: grpcPort },
      { name: 'kafka', host, port: kafkaPort },
      { name: 'inter-broker', host, port: dataPort },
    ]);
    // Caught up again with the log that now holds the amended registration.
    await core.cluster.waitReady(120_000);
  } catch (err) {
    await Promise.all([grpc.close(), kafka.close(), dataListener.close()]);
    await groups.close();
    await core.close();
    await http.close();
    forwarder.close();
    throw err;
  }
  state = 'ready';
  grpc.notifyHealth();
  logger.info(
    {
      clusterId,
      nodeId: config.numericNodeId,
      grpcPort,
      kafkaPort,
      dataPort,
      metricsPort,
      raftPort: core.cluster.log.port,
      // 0 turns the cleaner off: say so, since retention and compaction then never run.
      cleanerIntervalMs: config.cleanupIntervalMs || 'off',
      dataDir: config.dataDir,
      fsync: config.fsync,
      topics: core.listTopics().length,
      partitions: core.partitions.partitionCount,
    },
    'broker ready',
  );
  logger.info(
    {
      nodeId: config.nodeId,
      brokerId: config.numericNodeId,
      role: role(),
      clusterId,
      voters: core.cluster.log.raft.status().conf.voters,
    },
    'Distributed broker ready',
  );

  let closing: Promise<void> | null = null;
  return {
    config: advertised,
    clusterId,
    grpcPort,
    kafkaPort,
    metricsPort,
    kafkaAddress: `${config.bindAddr === '0.0.0.0' ? '127.0.0.1' : config.bindAddr}:${kafkaPort}`,
    grpcAddress: `${config.bindAddr === '0.0.0.0' ? '127.0.0.1' : config.bindAddr}:${grpcPort}`,
    dataDir: config.dataDir,
    core,
    groups,
    logger,
    metrics,
    close() {
      closing ??= (async () => {
        state = 'stopping';
        grpc.notifyHealth();
        if (config.controlledShutdownTimeoutMs > 0) {
          const started = Date.now();
          const moved = await core.cluster.controlledShutdown(config.controlledShutdownTimeoutMs);
          if (moved)
            logger.info(
              { ms: Date.now() - started },
              'controlled shutdown: leaderships moved to other replicas',
            );
          else if (core.cluster.ready)
            logger.info({}, 'controlled shutdown skipped or timed out: stopping with what this node leads');
        }
        logger.info({}, 'shutting down: draining requests');
        await Promise.all([grpc.close(), kafka.close(), dataListener.close()]);
        await groups.close();
        await core.close();
        forwarder.close();
        await http.close();
        logger.info({}, 'shutdown complete; logs flushed and marked clean');
        logger.flush?.();
      })();
      return closing;
    },
  };
}

/**
 * The cluster id of the cluster `cluster.join_addr` names, for a node joining with an empty data
 * directory (null otherwise: a restarted node rejoins from its data directory, and a node without a
 * join address starts its own). An address that does not answer, or answers as no cluster member,
 * is a ConfigError of cluster.join_addr.
 */
async function askJoinedCluster(config: BrokerConfig, forwarder: GrpcForwarder): Promise<string | null> {
  if (config.joinAddr === '') return null;
  // A restarted node rejoins from its data directory: the join address need not answer then, but when
  // it does, it must be the same cluster's.
  const restarting = existsSync(path.join(config.dataDir, 'meta', 'meta.properties'));
  try {
    const node = await forwarder.describeNode(config.joinAddr, 10_000);
    if (node.nodeId === config.numericNodeId && !restarting)
      throw configUnusable(
        'node.id',
        config.nodeId,
        `node ${config.numericNodeId} answers at the join address ${config.joinAddr}: node ids must be unique in a cluster`,
        originOf(config, 'node.id'),
      );
    return node.clusterId;
  } catch (err) {
    if (err instanceof ConfigError) {
      forwarder.close();
      throw err;
    }
    if (restarting) return null;
    forwarder.close();
    throw configUnusable(
      'cluster.join_addr',
      config.joinAddr,
      `no cluster member answers there (${(err as Error).message}); give the gRPC address (host:grpc_port) of a running node`,
      originOf(config, 'cluster.join_addr'),
      err,
    );
  }
}

/**
 * A system error while the core opens the data directory (a file it cannot read or write, a full
 * disk) is a problem of node.data_dir: named so. The core's own typed errors pass as they are.
 */
function dataDirFailure(config: BrokerConfig, err: unknown): unknown {
  const e = err as NodeJS.ErrnoException;
  if (!(e instanceof Error) || typeof e.syscall !== 'string' || typeof e.code !== 'string') return err;
  return configUnusable(
    'node.data_dir',
    config.dataDir,
    `opening it failed: ${e.message}`,
    originOf(config, 'node.data_dir'),
    err,
  );
}

/**
 * Every open partition holds at least one file descriptor (its active segment), and connections and
 * segment files need more. The partition limit the core enforces is therefore the configured
 * storage.max_partitions, lowered to the process's open files limit less a reserve, so that creating
 * a topic fails with a clear error instead of a log failing to open later. Linux reads the limit from
 * /proc/self/limits; elsewhere the configured value stands.
 */
/** File descriptors kept for connections and closed segments: 1024, or a quarter of a small limit. */
export const fileDescriptorReserve = 1024;

function effectivePartitionsMax(config: BrokerConfig, logger: Logger): number {
  let limit: number;
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (!m || m[1] === 'unlimited') return config.maxPartitions;
    limit = Number(m[1]);
  } catch {
    return config.maxPartitions;
  }
  const fit = Math.max(1, limit - Math.min(fileDescriptorReserve, Math.floor(limit / 4)));
  if (fit < config.maxPartitions) {
    logger.warn(
      { openFilesLimit: limit, configured: config.maxPartitions, effective: fit },
      'storage.max_partitions lowered to fit the open files limit; raise the limit (ulimit -n, LimitNOFILE) to hold more',
    );
    return fit;
  }
  return config.maxPartitions;
}
