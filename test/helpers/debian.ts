/**
 * Tests that need a Debian package (a Kafka client, a Python library) call `requireDebian()`. The test
 * command installs every such package before any test runs (scripts/test-setup.ts), so a package that
 * is still missing is a broken set-up: the test fails, naming the package, and never skips.
 */
import { spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';

export const debianPython = '/usr/bin/python3';

/** True when Debian's Python can import every module named. */
export function pythonHas(...modules: string[]): boolean {
  const r = spawnSync(debianPython, ['-c', modules.map((m) => `import ${m}`).join(';')], { stdio: 'ignore' });
  return r.status === 0;
}

/** Returns true when the test may go on; throws, naming the package, when it is missing. */
export function requireDebian(_t: TestContext, available: boolean, what: string): boolean {
  if (available) return true;
  throw new Error(`${what} is not installed: npm test installs it when run as root (scripts/test-setup.ts)`);
}
