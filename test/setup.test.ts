import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { missingDebianPackages, testDebianPackages } from '../scripts/test-setup.ts';

test('the test set-up finds missing Debian packages by name and sees installed ones', () => {
  assert.deepEqual(missingDebianPackages(['dpkg', 'no-such-package-tsbroker']), ['no-such-package-tsbroker']);
  // npm test ran the set-up before this test, so nothing the tests use is missing.
  assert.deepEqual(missingDebianPackages(testDebianPackages), []);
});

test('run as another user with a package missing, the set-up stops with the exact apt-get line', (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to switch to another user');
  const r = spawnSync(
    'setpriv',
    [
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      process.execPath,
      '--input-type=module',
      '-e',
      script(),
    ],
    { encoding: 'utf8', cwd: process.cwd() },
  );
  assert.equal(r.status, 1, r.stderr);
  assert.match(
    r.stderr,
    /apt-get update && apt-get install -y --no-install-recommends no-such-package-tsbroker/,
  );
});

function script(): string {
  // The set-up's main path with one package that cannot be installed, through its exported function.
  return `
    import { setUp } from ${JSON.stringify(new URL('../scripts/test-setup.ts', import.meta.url).href)};
    process.exitCode = setUp(['no-such-package-tsbroker']);
  `;
}
