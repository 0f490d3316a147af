/**
 * What a node is told of its leaderships between two images it acts on (broker/metadata.ts): the group
 * coordinator loads a shard on a begun leadership and drops it on an ended one, so a leadership that
 * another node held in between (images are coalesced) must read as ended and begun again.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { leadershipChanges } from '../../src/broker/metadata.ts';
import { catchUp, cluster, part } from '../helpers/reassignment.ts';

function led(): ReturnType<typeof cluster> {
  const h = cluster([1, 2, 3]);
  h.run((c) =>
    c.createTopics([
      {
        name: 't',
        assignments: [
          [1, 2, 3],
          [2, 3, 1],
        ],
      },
    ]),
  );
  return h;
}

test('a leadership that passed to another node and came back reads as ended and begun again', () => {
  const h = led();
  const first = h.image;
  // Broker 1's session lapses: t-0 moves to broker 2, which may take writes meanwhile.
  assert.deepEqual(h.advance(9000, [2, 3]), [1]);
  assert.equal(part(h, 't', 0).leader, 2);
  const away = h.image;
  // Broker 1 comes back, catches up, and the preferred-leader election gives it t-0 again.
  h.join(1, null, 'inc-1-again');
  catchUp(h, 't', 0, [1]);
  h.run((c) => c.electPreferredLeaders());
  assert.equal(part(h, 't', 0).leader, 1);
  const back = h.image;
  assert.deepEqual(leadershipChanges(first, away, 1), [['t', 0, false]]);
  assert.deepEqual(leadershipChanges(away, back, 1), [['t', 0, true]]);
  // Acted on at once (the image in between never published here): ended and begun again, in order.
  assert.deepEqual(leadershipChanges(first, back, 1), [
    ['t', 0, false],
    ['t', 0, true],
  ]);
  // Broker 2 led t-0 in between and leads t-1 throughout: only its own changes are reported.
  assert.deepEqual(leadershipChanges(first, back, 2), []);
  assert.deepEqual(leadershipChanges(first, away, 2), [['t', 0, true]]);
});

test('an image that keeps the leader and its epoch reports nothing; a new topic begins and a deleted one ends its leaderships', () => {
  const h = led();
  const before = h.image;
  // The ISR shrinks and grows back under the same leader and epoch.
  assert.deepEqual(h.advance(9000, [1, 2]), [3]);
  assert.deepEqual(part(h, 't', 0).isr, [1, 2]);
  assert.deepEqual(leadershipChanges(before, h.image, 1), []);
  h.run((c) => c.createTopics([{ name: 'u', assignments: [[1, 2]] }]));
  const created = h.image;
  assert.deepEqual(leadershipChanges(before, created, 1), [['u', 0, true]]);
  h.run((c) => c.deleteTopics(['t']));
  assert.deepEqual(leadershipChanges(created, h.image, 1), [['t', 0, false]]);
  assert.deepEqual(leadershipChanges(created, h.image, 2), [['t', 1, false]]);
});
