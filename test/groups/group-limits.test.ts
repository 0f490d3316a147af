/**
 * The group coordinator's bounds (issue 10: 1,000 members with 100 KB of metadata each gave a 100 MB
 * JoinGroup response and a group record that could not be stored), stepped by hand with generated
 * schedules of joins, rejoins, leader syncs and expiries on a coordinator with small bounds. After
 * every step: no group passes its member count or its state bytes, no leader's JoinGroup response
 * carries more metadata than the state bound, the record the service would store fits the bound
 * derived from them, and a join refused for its size changes nothing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  GroupCoordinator,
  type GroupSnapshot,
  type JoinResponse,
  memberStateBytes,
} from '../../src/broker/groups/coordinator.ts';
import { type BrokerError, isBrokerError } from '../../src/errors.ts';
import {
  groupMemberMetadataBytesMax,
  groupMembersMax,
  groupStateBytesMax,
  offsetsRecordBytesMax,
} from '../../src/limits.ts';

const bounds = { maxGroupSize: 6, memberMetadataBytesMax: 900, groupStateBytesMax: 3000 };

/** The group's record as the service stores it: metadata and assignments in base64, in JSON. */
function storedBytes(s: GroupSnapshot): number {
  return Buffer.byteLength(
    JSON.stringify({
      ...s,
      members: s.members.map((m) => ({
        ...m,
        metadata: m.metadata.toString('base64'),
        assignment: m.assignment.toString('base64'),
      })),
    }),
  );
}

type Step =
  | { kind: 'join'; who: number; metadataBytes: number[] }
  | { kind: 'sync'; assignmentBytes: number[] }
  | { kind: 'time'; ms: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('join' as const),
      who: fc.integer({ min: 0, max: 9 }),
      // One or two strategies; sizes around both bounds.
      metadataBytes: fc.array(
        fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 200, max: 1000 })),
        {
          minLength: 1,
          maxLength: 2,
        },
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('sync' as const),
      assignmentBytes: fc.array(fc.integer({ min: 0, max: 900 }), { minLength: 10, maxLength: 10 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('time' as const), ms: fc.integer({ min: 1, max: 4000 }) }),
  },
);

test('generated joins, syncs and expiries never take a group past its member or byte bounds', () => {
  const seen = { syncRefused: 0, syncAccepted: 0, stateRefused: 0, countRefused: 0 };
  fc.assert(
    fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), (steps) => {
      let n = 0;
      const c = new GroupCoordinator(
        { partitionsOf: () => 0, newMemberId: (client) => `${client}-${String(++n).padStart(36, '0')}` },
        bounds,
      );
      const ids = new Map<number, string>();
      let now = 0;
      let leaderGen = -1;
      const check = () => {
        const s = c.snapshot('g');
        if (!s) return;
        assert.ok(s.members.length <= bounds.maxGroupSize, `${s.members.length} members`);
        const bytes = s.members.reduce(
          (sum, m) =>
            sum +
            memberStateBytes({ ...m, protocols: [{ name: m.protocolName ?? '', metadata: m.metadata }] }),
          0,
        );
        assert.ok(bytes <= bounds.groupStateBytesMax, `${bytes} bytes of state`);
        assert.ok(
          storedBytes(s) <=
            Math.ceil((bounds.groupStateBytesMax * 4) / 3) + s.members.length * 512 + 64 * 1024,
          'the record fits the bound derived from the state bound',
        );
      };
      for (const st of steps) {
        if (st.kind === 'time') {
          now += st.ms;
          c.tick(now);
        } else if (st.kind === 'join') {
          const before = c.snapshot('g');
          const memberId = ids.get(st.who) ?? '';
          const protocols = st.metadataBytes.map((b, i) => ({
            name: `p${i}`,
            metadata: Buffer.alloc(b, st.who),
          }));
          const offered = protocols.reduce((x, p) => x + p.name.length + p.metadata.length, 0);
          let answer: JoinResponse | BrokerError | undefined;
          c.join(
            {
              groupId: 'g',
              memberId,
              clientId: `client${st.who}`,
              clientHost: '/127.0.0.1',
              protocolType: 'consumer',
              protocols,
              sessionTimeoutMs: 3000,
              rebalanceTimeoutMs: 2000,
              requireKnownMemberId: false,
            },
            now,
            (r) => {
              if (answer === undefined) answer = r;
              if (!isBrokerError(r)) {
                ids.set(st.who, r.memberId);
                if (r.members.length > 0) {
                  leaderGen = r.generationId;
                  const sent = r.members.reduce((x, m) => x + m.metadata.length, 0);
                  assert.ok(sent <= bounds.groupStateBytesMax, `a leader's response carried ${sent} bytes`);
                }
              }
            },
          );
          if (isBrokerError(answer, 'GROUP_MAX_SIZE_REACHED')) seen.countRefused++;
          if (isBrokerError(answer, 'MESSAGE_TOO_LARGE') && offered <= bounds.memberMetadataBytesMax)
            seen.stateRefused++;
          if (offered > bounds.memberMetadataBytesMax) {
            assert.ok(
              isBrokerError(answer, 'MESSAGE_TOO_LARGE'),
              `a join offering ${offered} bytes is refused`,
            );
          }
          if (isBrokerError(answer, 'MESSAGE_TOO_LARGE') || isBrokerError(answer, 'GROUP_MAX_SIZE_REACHED')) {
            assert.deepEqual(c.snapshot('g'), before, 'a refused join changes nothing (nor makes a group)');
          }
        } else {
          const s = c.snapshot('g');
          if (!s?.leaderId || s.state !== 'CompletingRebalance' || leaderGen !== s.generationId) continue;
          let answer: unknown;
          c.sync(
            {
              groupId: 'g',
              memberId: s.leaderId,
              generationId: s.generationId,
              assignments: s.members.map((m, i) => ({
                memberId: m.memberId,
                assignment: Buffer.alloc(st.assignmentBytes[i]),
              })),
            },
            now,
            (r) => (answer = r),
          );
          const given = s.members.reduce(
            (x, m, i) =>
              x + memberStateBytes({ ...m, protocols: [], assignment: Buffer.alloc(st.assignmentBytes[i]) }),
            0,
          );
          if (isBrokerError(answer, 'MESSAGE_TOO_LARGE')) seen.syncRefused++;
          else seen.syncAccepted++;
          if (isBrokerError(answer, 'MESSAGE_TOO_LARGE')) {
            assert.equal(
              c.snapshot('g')?.state,
              'PreparingRebalance',
              'an assignment too large to store rebalances',
            );
          } else if (given > bounds.groupStateBytesMax) {
            assert.fail(`an assignment of ${given} bytes was accepted`);
          }
        }
        check();
      }
    }),
    { numRuns: 300, seed: 10_10 },
  );
  // The schedules reached every bound (else the property above proved little).
  for (const [what, count] of Object.entries(seen)) assert.ok(count > 0, `no schedule had ${what}`);
});

test('the real bounds: metadata past the per-member bound, and a group past its count', () => {
  let n = 0;
  const c = new GroupCoordinator({ partitionsOf: () => 0, newMemberId: () => `m-${++n}` });
  const join = (memberId: string, bytes: number) => {
    let answer: JoinResponse | BrokerError | undefined;
    c.join(
      {
        groupId: 'big',
        memberId,
        clientId: 'c',
        clientHost: '/127.0.0.1',
        protocolType: 'consumer',
        protocols: [{ name: 'range', metadata: Buffer.alloc(bytes) }],
        sessionTimeoutMs: 10_000,
        rebalanceTimeoutMs: 10_000,
        requireKnownMemberId: false,
      },
      0,
      (r) => (answer ??= r),
    );
    return answer;
  };
  assert.ok(isBrokerError(join('', groupMemberMetadataBytesMax), 'MESSAGE_TOO_LARGE'));
  assert.equal(c.snapshot('big')?.members.length ?? 0, 0);
  // Members with 100 KB each (issue 10): the group stops at the state bound, well short of 1,000.
  let accepted = 0;
  let refused = 0;
  for (let i = 0; i < 200; i++) {
    const r = join('', 100 * 1024);
    if (isBrokerError(r, 'MESSAGE_TOO_LARGE')) refused++;
    else accepted++;
  }
  assert.equal(accepted, c.snapshot('big')!.members.length);
  assert.ok(
    accepted * 100 * 1024 <= groupStateBytesMax && (accepted + 1) * 100 * 1024 > groupStateBytesMax - 4096,
  );
  assert.equal(accepted + refused, 200);
  // Small members: the count bound answers GROUP_MAX_SIZE_REACHED.
  const small = new GroupCoordinator({ partitionsOf: () => 0, newMemberId: () => `s-${++n}` });
  let full: unknown;
  for (let i = 0; i <= groupMembersMax && full === undefined; i++) {
    small.join(
      {
        groupId: 'many',
        memberId: '',
        clientId: 'c',
        clientHost: '/127.0.0.1',
        protocolType: 'consumer',
        protocols: [{ name: 'range', metadata: Buffer.alloc(16) }],
        sessionTimeoutMs: 10_000,
        rebalanceTimeoutMs: 10_000,
        requireKnownMemberId: false,
      },
      0,
      (r) => {
        if (isBrokerError(r, 'GROUP_MAX_SIZE_REACHED')) full ??= i;
      },
    );
  }
  assert.equal(full, groupMembersMax);
  assert.equal(small.snapshot('many')!.members.length, groupMembersMax);
  assert.ok(offsetsRecordBytesMax >= groupStateBytesMax);
});
