/** What the cluster tests share: waiting for a condition, and a node's readiness and gauges over HTTP. */
import { setTimeout as sleep } from 'node:timers/promises';

/** Polls `fn` every 100 ms until it gives a truthy value; fails after `ms` naming `what` and the last error. */
export async function until<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false>,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ''}`);
    await sleep(100);
  }
}

/** A node's /ready answer (LEADER, FOLLOWER, NOT_READY), or DOWN when it does not answer. */
export async function ready(metricsUrl: string): Promise<string> {
  try {
    const res = await fetch(`${metricsUrl}/ready`, { signal: AbortSignal.timeout(2000) });
    return (await res.text()).trim();
  } catch {
    return 'DOWN';
  }
}

/** A gauge's value in a node's /metrics (whatever its labels), or NaN when it is absent. */
export async function gauge(metricsUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const m = new RegExp(`^${name}\\{[^}]*\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}
