#!/usr/bin/env -S node --max-semi-space-size=8 --initial-heap-size=128 --no-allocation-site-pretenuring --v8-pool-size=0
/**
 * `broker`: the entry point. Two settings of the process come first, before anything else is loaded.
 *
 * Node's module compile cache: the type-stripped TypeScript and the gRPC, pino and prom-client modules
 * are compiled once, then reused; module loading takes about 0.3 s with it and 0.6 to 1 s without it on
 * the development machine. (The Docker image sets NODE_COMPILE_CACHE, which also covers this file.)
 *
 * V8's `--external-memory-accounted-in-global-limit`: every request and answer lives in Buffers, whose
 * memory is outside V8's heap. By default V8 starts a full mark-compact whenever such memory has grown
 * by 64 MiB since the last one, however little of it is still live: at 100 MB/s of produce that is
 * several full collections a second of a heap that hardly changes. With the flag, that memory counts
 * toward the heap's own limit, which grows with what survives. Measured on the development machine
 * (gRPC produce of 1 KiB records, batches of 1000, 8 calls in flight, 6 s, two runs each): 34 and 44
 * mark-compacts and 9.3 ms of broker CPU per MiB without it; 12 and 12, and 6.0 to 6.3 ms per MiB with
 * it; the peak RSS rose from 200 MiB to 284-303 MiB. A library user embedding the broker keeps the
 * process's own flags: this is set only for the `broker` command.
 *
 * The Node flags on the shebang line are src/cli/node-flags.ts's, which every launcher passes: V8
 * reads them only at start-up.
 */
import module from 'node:module';
import v8 from 'node:v8';

module.enableCompileCache?.();
v8.setFlagsFromString('--external-memory-accounted-in-global-limit');
await import('./broker-main.ts');
