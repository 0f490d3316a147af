/**
 * Tests that need a Debian package (a Kafka client, a Python library) call `requireDebian()`. Outside CI
 * a missing package skips the test with a plain message; under CI (`CI=true`, where .ci/run installs
 * the packages) a missing package fails the test, so that a missing install step can never pass silently.
 */
import { spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';

export const debianPython = '/usr/bin/python3';

/** True when Debian's Python can import every module named. */
export function pythonHas(...modules: string[]): boolean {
  const r = spawnSync(debianPython, ['-c', modules.map((m) => `import ${m}`).join(';')], { stdio: 'ignore' });
  return r.status === 0;
}

/** Returns true when the test may go on; otherwise skips it (outside CI) or throws (under CI). */
export function requireDebian(t: TestContext, available: boolean, what: string): boolean {
  if (available) return true;
  const message = `${what} is not installed (apt-get install it; .ci/run does)`;
  if (process.env.CI) throw new Error(`under CI: ${message}`);
  t.skip(message);
  return false;
}
