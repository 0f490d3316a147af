/** What the cluster tests share: waiting for a condition, and a node's readiness and gauges over HTTP. */
import { waitFor } from '../compat/helpers.ts';

/**
 * Polls `fn` until it gives something other than null, undefined or false; fails after `ms` naming
 * `what` and the last error (the compat tests' `waitFor`, with null also meaning "not yet").
 */
export function until<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false>,
  ms = 30_000,
): Promise<T> {
  return waitFor(what, async () => (await fn()) ?? undefined, ms);
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
