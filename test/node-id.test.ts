/**
 * The numeric node id (src/config/node-id.ts) and the meta.properties format (src/meta-properties.ts),
 * as pure functions: issue 11, DESIGN.md decision 4.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ConfigError } from '../src/config/config-error.ts';
import { nodeIdNumberMax, numericNodeId } from '../src/config/node-id.ts';
import {
  formatMetaProperties,
  generateClusterId,
  isClusterId,
  parseMetaProperties,
} from '../src/meta-properties.ts';

/** A name prefix of node.id's characters that does not end in a digit (or is empty). */
const prefix = fc.stringMatching(/^[A-Za-z0-9._-]{0,40}$/).filter((s) => s === '' || !/\d$/.test(s));

test('any name ending in a number from 1 to 2^31-1 maps to that number, with or without leading zeros', () => {
  fc.assert(
    fc.property(prefix, fc.integer({ min: 1, max: nodeIdNumberMax }), fc.nat(3), (p, n, zeros) => {
      const name = `${p}${'0'.repeat(zeros)}${n}`;
      fc.pre(name.length <= 64);
      assert.equal(numericNodeId(name), n, name);
    }),
  );
  assert.equal(numericNodeId('node-1'), 1);
  assert.equal(numericNodeId('broker-3'), 3);
  assert.equal(numericNodeId('7'), 7);
  assert.equal(numericNodeId('node2-10'), 10, 'the trailing number only');
  assert.equal(numericNodeId(`n${nodeIdNumberMax}`), nodeIdNumberMax);
});

test('a name with no trailing number is refused naming node.id, the value and where it came from', () => {
  fc.assert(
    fc.property(
      prefix.filter((s) => s !== ''),
      (name) => {
        assert.throws(
          () => numericNodeId(name, '--id'),
          (err: unknown) =>
            err instanceof ConfigError &&
            err.key === 'node.id' &&
            err.value === name &&
            err.message.includes(`node.id=${JSON.stringify(name)} (from --id)`) &&
            /must end in a decimal number from 1 to 2147483647/.test(err.message),
        );
      },
    ),
  );
});

test('a number of 0 or past int32 is refused; the message says 0 is Raft\'s "no node"', () => {
  fc.assert(
    fc.property(
      prefix,
      fc.oneof(fc.constant(0n), fc.bigInt({ min: BigInt(nodeIdNumberMax) + 1n, max: 10n ** 40n })),
      (p, n) => {
        const name = `${p}${n}`;
        fc.pre(name.length <= 64);
        assert.throws(() => numericNodeId(name), {
          name: 'ConfigError',
          key: 'node.id',
          message: new RegExp(`its number ${n} is out of range: .*1 to 2147483647 .*0 is Raft's "no node"`),
        });
      },
    ),
  );
  assert.throws(() => numericNodeId('node-000'), {
    key: 'node.id',
    message: /its number 000 is out of range/,
  });
});

test('names outside 1 to 64 of letters, digits, ".", "_" and "-" are refused before their number is read', () => {
  for (const name of ['', 'bad id!', 'node/1', `n${'1'.repeat(64)}`])
    assert.throws(() => numericNodeId(name), { key: 'node.id', message: /1 to 64 characters/ }, name);
});

test("cluster ids are Kafka's: 22 characters of base64url for 16 bytes of a version 4 UUID, never leading '-'", () => {
  const ids = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const id = generateClusterId();
    assert.equal(id.length, 22);
    assert.ok(isClusterId(id), id);
    const bytes = Buffer.from(id, 'base64url');
    assert.equal(bytes[6] >> 4, 4, 'version 4');
    assert.equal(bytes[8] >> 6, 2, 'variant 10');
    ids.add(id);
  }
  assert.equal(ids.size, 200, 'no two alike');
  // Randomness whose first draw would encode with a leading "-" (0xf8 in the first byte) is drawn again.
  const draws = [Buffer.alloc(16, 0xf8), Buffer.alloc(16, 0x11)];
  const id = generateClusterId(() => draws.shift()!);
  assert.equal(draws.length, 0, 'a second draw was needed');
  assert.ok(!id.startsWith('-') && isClusterId(id), id);
  for (const bad of ['', 'short', `${id}=`, `${id.slice(0, 21)}!`, 'AAAAAAAAAAAAAAAAAAAAAA'])
    assert.ok(!isClusterId(bad), bad);
});

test('meta.properties: what is written reads back, and the text is Kafka version 1 with a comment', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: nodeIdNumberMax }),
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      (n, raw) => {
        // The first byte below 0xf8, so that the id does not start with "-" and one draw suffices.
        const clusterId = generateClusterId(() => Buffer.from([raw[0] & 0x7f, ...raw.subarray(1)]));
        const text = formatMetaProperties({ clusterId, nodeId: n }, `node-${n}`, new Date(0));
        assert.deepEqual(parseMetaProperties(text), { clusterId, nodeId: n });
      },
    ),
  );
  const clusterId = generateClusterId();
  assert.equal(
    formatMetaProperties({ clusterId, nodeId: 2 }, 'node-2', new Date('2026-12-01T09:18:00Z')),
    `#tsbroker node node-2, written 2026-12-01T09:18:00.000Z\nversion=1\ncluster.id=${clusterId}\nnode.id=2\n`,
  );
  // As Kafka writes it (java.util.Properties: a date comment, any key order, a newer key).
  assert.deepEqual(
    parseMetaProperties(
      `#\n#Tue Dec 01 09:18:00 UTC 2026\nnode.id=3\ndirectory.id=x\nversion = 1\ncluster.id=${clusterId}\n`,
    ),
    { clusterId, nodeId: 3 },
  );
});

test('meta.properties that is garbled, incomplete or of another version is refused with what is wrong', () => {
  const id = generateClusterId();
  const cases: [string, RegExp][] = [
    ['', /no version/],
    ['version=1\nnode.id=1\n', /no cluster\.id/],
    [`version=1\ncluster.id=${id}\n`, /no node\.id/],
    [`version=0\nbroker.id=1\ncluster.id=${id}\n`, /ZooKeeper-mode/],
    [`version=2\ncluster.id=${id}\nnode.id=1\n`, /version=2 is not the version 1/],
    [`version=1\ncluster.id=tsbroker-node-1\nnode.id=1\n`, /cluster\.id=tsbroker-node-1 is not a cluster id/],
    [`version=1\ncluster.id=${id}\nnode.id=0\n`, /node\.id=0 is not a node id/],
    [`version=1\ncluster.id=${id}\nnode.id=2147483648\n`, /node\.id=2147483648 is not/],
    [`version=1\ncluster.id=${id}\nnode.id=-1\n`, /node\.id=-1 is not/],
    [`version=1\ncluster.id=${id}\nnode.id=1\nnode.id=2\n`, /line 4 sets node\.id a second time/],
    [`version=1\ncluster.id=${id}\nnode.id 1\n`, /line 3 is not key=value/],
    [
      `version=1\ncluster.id=${id}\nnode.id=1\n\u0000\u00ff\u0007`,
      /line 4 holds bytes that are not printable/,
    ],
  ];
  for (const [text, problem] of cases) {
    const r = parseMetaProperties(text);
    assert.ok('problem' in r, JSON.stringify(text));
    assert.match(r.problem, problem, JSON.stringify(text));
  }
});
