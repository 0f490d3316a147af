/**
 * `npm run sim -- --seeds N [--start S]` runs N seeds from S (default: a seed from the clock, printed);
 * `npm run sim -- --seed S [--verbose]` replays one seed, printing the same output every time.
 * Exits non-zero on the first failure, printing the seed and the command that replays it.
 */
import { runSeed } from './simulator.ts';

function arg(name: string): string | undefined {
  const k = process.argv.indexOf(name);
  return k >= 0 ? process.argv[k + 1] : undefined;
}

const verbose = process.argv.includes('--verbose');
const one = arg('--seed');
if (one !== undefined) {
  const r = runSeed(Number(one), verbose);
  for (const line of r.trace) console.log(line);
  console.log(r.summary);
  if (!r.ok) {
    console.log(`FAILURE: ${r.failure}`);
    console.log(`replay: npm run sim -- --seed ${r.seed} --verbose`);
    process.exitCode = 1;
  }
} else {
  const count = Number(arg('--seeds') ?? 100);
  // The wall clock picks where a sweep starts (and is printed); it never reaches the simulation itself.
  const start = Number(arg('--start') ?? Date.now() % 1_000_000_000);
  const t0 = performance.now();
  let failed = 0;
  for (let s = start; s < start + count; s++) {
    const r = runSeed(s);
    if (!r.ok) {
      failed++;
      console.log(r.summary);
      console.log(`FAILURE seed=${s}: ${r.failure}`);
      console.log(`replay: npm run sim -- --seed ${s} --verbose`);
      if (!process.argv.includes('--keep-going')) break;
    }
  }
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(
    `seeds ${start}..${start + count - 1}: ${failed === 0 ? 'all passed' : `${failed} failed`} in ${secs} s`,
  );
  if (failed > 0) process.exitCode = 1;
}
