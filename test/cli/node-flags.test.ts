/**
 * Every launcher of the `broker` process passes the Node flags of src/cli/node-flags.ts (V8 reads them
 * only at start-up, so the script cannot set them itself): the bin's shebang, `npm start`, the Docker
 * image's entry point and the Kubernetes manifest, and the brokers the tests start. The bin is also
 * run as users' shells run it, through its shebang line.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { brokerNodeFlags } from '../../src/cli/node-flags.ts';
import { spawnBroker } from '../helpers/broker-process.ts';
import { tempDir } from '../helpers/tmp.ts';

const root = path.resolve(import.meta.dirname, '../..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

test('the shebang, npm start, the image and the Kubernetes manifest pass the flags before the script', () => {
  const flags = brokerNodeFlags.join(' ');
  assert.equal(read('src/cli/broker.ts').split('\n')[0], `#!/usr/bin/env -S node ${flags}`);
  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts.start, `node ${flags} src/cli/broker.ts`);
  const quoted = brokerNodeFlags.map((f) => JSON.stringify(f)).join(', ');
  assert.match(
    read('Dockerfile'),
    new RegExp(`^ENTRYPOINT \\["node", ${quoted}, "dist/broker\\.mjs"\\]$`, 'm'),
  );
  assert.ok(
    read('deploy/kubernetes/broker.yaml').includes(`args: ["node", ${quoted}, "dist/broker.mjs"]`),
    'the StatefulSet runs the image command with the flags',
  );
});

test('the bin runs through its shebang line', () => {
  // As npm's bin link does: the file itself, with the package's Node first on PATH.
  const bin = path.join(root, 'node_modules/.bin');
  const help = spawnSync(path.join(root, 'src/cli/broker.ts'), ['--help'], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` },
  });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /--data-dir/);
});

test('a broker the tests start runs with the flags', async (t) => {
  const broker = await spawnBroker(await tempDir());
  t.after(() => broker.stop());
  const argv = readFileSync(`/proc/${broker.proc.pid}/cmdline`, 'utf8').split('\0');
  const script = argv.findIndex((a) => a.endsWith('broker.ts'));
  assert.deepEqual(argv.slice(script - brokerNodeFlags.length, script), [...brokerNodeFlags]);
  // --v8-pool-size=0: one V8 helper thread per CPU the broker may use (it inherits this process's
  // affinity and cgroup), less the main thread's, at least one; Node's default is four.
  const tasks = readdirSync(`/proc/${broker.proc.pid}/task`);
  const helpers = tasks.filter(
    (t) => readFileSync(`/proc/${broker.proc.pid}/task/${t}/comm`, 'utf8').trim() === 'V8Worker',
  );
  assert.equal(helpers.length, Math.max(1, availableParallelism() - 1));
});
