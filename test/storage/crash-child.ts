/**
 * Child process for the crash-consistency tests: appends (and, in `compact` mode, compacts) until the
 * parent SIGKILLs it, printing one line per acknowledged append: `ack <baseOffset> <lastOffset> <tag> <key,key,...>`.
 * Usage: node crash-child.ts <dir> <append|compact> <seed>
 */
import { encodeBatch } from '../../src/records/batch.ts';
import { PartitionLog } from '../../src/storage/partition-log.ts';

const [dir, mode, seedArg] = process.argv.slice(2);
let seed = Number(seedArg);
// A small deterministic PRNG (mulberry32) so that a failing run can be replayed from its seed.
function random(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
  return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
}

const compact = mode === 'compact';
const log = await PartitionLog.open({
  dir,
  config: {
    fsync: 'always',
    segmentBytes: compact ? 8 * 1024 : 64 * 1024,
    cleanupPolicy: { delete: false, compact },
    deleteRetentionMs: 0,
  },
});
process.stdout.write(`ready ${log.logEndOffset}\n`);

let n = 0;
async function appender(id: number): Promise<never> {
  for (;;) {
    const tag = `${process.pid}-${id}-${n++}`;
    const count = 1 + Math.floor(random() * 20);
    const keys = Array.from({ length: count }, (_, i) =>
      compact ? `key-${Math.floor(random() * 30)}` : `${tag}-${i}`,
    );
    const batch = encodeBatch({
      compression: Math.floor(random() * 5) as 0 | 1 | 2 | 3 | 4,
      records: keys.map((key, i) => ({
        key: Buffer.from(key),
        value: Buffer.from(`${tag}:${i}:${'v'.repeat(Math.floor(random() * 200))}`),
      })),
    });
    const r = await log.append(batch);
    process.stdout.write(`ack ${r.baseOffset} ${r.lastOffset} ${tag} ${keys.join(',')}\n`);
  }
}

async function compactor(): Promise<never> {
  for (;;) {
    await log.compact();
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

for (let i = 0; i < 4; i++) void appender(i);
if (compact) void compactor();
