/**
 * Bounds of the metadata layer (DESIGN.md decision 13): what one metadata record, one operation's batch
 * of records and one snapshot may hold. The codec refuses anything beyond them before allocating it,
 * so a corrupt or hostile Raft entry cannot make a node build a huge image. Units come last in names.
 */

/**
 * Largest encoded metadata record. A Partition record with the most replicas is about 1 KiB; the bound
 * leaves room for long config values. @default 64 KiB
 */
export const recordBytesMax = 64 * 1024;

/**
 * Most records one controller operation may produce, so that its batch fits one Raft proposal
 * (src/raft/limits.ts proposalBytesMax is 1 MiB). Kafka bounds a user operation at 10,000 records
 * (`MAX_RECORDS_PER_USER_OP`); ours are larger (JSON), so fewer. @default 5000
 */
export const recordsPerBatchMax = 5000;

/** Largest encoded batch of records (one Raft entry): the Raft layer's proposal bound. @default 1 MiB */
export const batchBytesMax = 1024 * 1024;

/** Largest encoded snapshot of the image: the Raft transport's message bound. @default 256 MiB */
export const snapshotBytesMax = 256 * 1024 * 1024;

/** Most replicas of one partition (Kafka has no fixed bound; ours keeps a record small). @default 64 */
export const replicasPerPartitionMax = 64;

/** Most listeners one broker registers (grpc, kafka, inter-broker, raft). @default 8 */
export const listenersPerBrokerMax = 8;

/** Longest string in a record: host, rack, config value, incarnation id. @default 4096 */
export const stringLengthMax = 4096;

/** Producer ids the controller hands out in one block (Kafka's `PRODUCER_ID_BLOCK_SIZE`). @default 1000 */
export const producerIdBlockSizeDefault = 1000;
