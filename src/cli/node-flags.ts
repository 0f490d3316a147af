/**
 * The Node.js flags the `broker` process runs with, before its script: every launcher of this package
 * passes them (the `broker` bin's shebang, `npm start`, the Docker image's entry point, the Kubernetes
 * manifest, `startCluster`, the tests' and the benchmark's brokers; test/cli/node-flags.test.ts checks
 * that they agree). They must be on the command line (or in NODE_OPTIONS): V8 sizes its heap when the
 * process starts, and setting them later from the script does not take.
 *
 * `--max-semi-space-size=8`: a young generation of at most 8 MiB per semi-space, where V8 otherwise
 * lets it grow to 64 MiB under load. Every request lives in Buffers whose memory V8 counts toward its
 * heap (src/cli/broker.ts); once a burst has grown the young generation, the room left below the old
 * generation's limit after a full collection (about 70 MiB over a live heap of 17 MiB) is smaller than
 * the young generation itself, and V8 then starts incremental marking again as soon as each full
 * collection ends: a mark-compact every 100-250 ms and no scavenges at all, for as long as load lasts.
 * Each one stops the event loop for 5-15 ms, which made the end-to-end latency tail. Measured on
 * the development machine (Go generator on its own CPU, 100 B records in batches of 100, one
 * ProduceStream, broker pinned, after a closed-loop burst of 8 s): at 171,000 records/s, p99 28 ms
 * with 25 mark-compacts in 15 s by default, 2.5 ms with none with the cap; at 855,000 records/s,
 * 35.7 ms and 77 mark-compacts against 4.3 ms and none; closed-loop rate 1.53 against 1.76 million
 * records/s, peak RSS 258 against 176 MiB. 16 MiB still falls into the loop (p99 17 ms); 4 MiB
 * scavenges twice as often as 8 for no gain.
 *
 * `--initial-heap-size=128`: V8 starts a full collection once the old generation, with the Buffers'
 * memory that the flag of src/cli/broker.ts counts in it, passes a limit that begins small and grows
 * with what survives. A young generation capped as above promotes the Buffers of requests still in
 * flight (a 1 MiB batch waits for its write round), and at 300 MB/s of produce their memory reached
 * that limit about eight times a second: 55 mark-compacts in 7 s, 1.5 CPU s of V8's helper threads,
 * a fifth of the broker's one CPU. Starting the limit at 128 MiB lets the scavenges free them first;
 * it reserves nothing (RSS is what is used, and the peak stayed the same). Measured on the development
 * machine (Go generator on the other CPU, 1 KiB records in batches of 1000, 8 in flight, broker
 * pinned, 6 s): ProduceStream 327,000 against 394,000 records/s, ProduceBatch 332,500 against 361,500;
 * 56 mark-compacts against none (none in 30 s either); peak RSS 289 against 288 MiB. 100 B records
 * (batches of 100, 64 in flight): 1.68-2.07 against 1.96-2.16 million records/s, one mark-compact
 * against none.
 *
 * `--no-allocation-site-pretenuring`: V8 watches how many objects from each allocation site survive
 * scavenges, and once a site's survive, allocates that site's objects in the old generation from then
 * on. A closed-loop burst of unary calls (64 in flight) makes grpc-js's and Node's HTTP/2 per-call
 * sites (the call, its stream, the response headers) such sites; afterwards, at any rate, every call's
 * objects went to the old generation and died there: V8's sampling heap profiler, counting objects
 * that only a full collection freed, put them first (700 KB a scavenge). A mark-compact every few
 * seconds followed, each stopping the event loop for 10-20 ms. Measured on the development machine (Go
 * generator on the other CPU, ProduceBatch calls of 100 records of 100 B at 110,000 records/s after an
 * 8 s closed-loop burst, broker pinned, 15 s): p99 12.1 ms with 16 mark-compacts, against 2.8 and
 * 3.4 ms with none; closed-loop rate 0.98 against 1.09 million records/s; 1 KiB ProduceStream
 * 377,000-383,000 against 390,000-394,000 records/s.
 *
 * `--v8-pool-size=0`: V8's platform threads (parallel scavenging, concurrent marking and compilation)
 * number as many as the CPUs the process may use, less the main thread's, and at least one, as libuv's
 * uv_available_parallelism() counts them (the CPU affinity, and the cgroup's CPU quota since libuv
 * 1.49: a container with `--cpus=2` or a Kubernetes limit of 2 gets one). Node's default is four
 * whatever the CPUs, and when the broker has one or two CPUs, four helpers that wake on every
 * scavenge take the main thread's CPU from under it: the event loop waits for them, runnable, for
 * tens of milliseconds. Measured on the development machine (2 CPUs; Go generator pinned to CPU 0,
 * ProduceBatch calls of 100 records of 100 B at 220,000 records/s, a Subscribe tailing, 8 s, runs
 * alternating, three each): broker pinned to CPU 1, end-to-end p99 18, 91 and 45 ms against 171, 133
 * and 143 ms with four helpers; broker unpinned, 13, 8 and 13 ms against 62, 19 and 24 ms, and a
 * closed-loop rate of 505,000-555,000 against 417,000-511,000 records/s. Pinned, closed loop, the
 * rates are the same within the noise: ProduceStream of 100 B 1.31-1.70 against 1.34-1.42 million
 * records/s, of 1 KiB in batches of 1000 215,000-230,000 against 226,000-244,000, ProduceBatch
 * 366,000-478,000 against 399,000-509,000.
 */
export const brokerNodeFlags: readonly string[] = [
  '--max-semi-space-size=8',
  '--initial-heap-size=128',
  '--no-allocation-site-pretenuring',
  '--v8-pool-size=0',
];
