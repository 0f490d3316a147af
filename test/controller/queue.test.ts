/**
 * The controller's serialized queue (issue 11), with a committer the test controls: answers come only
 * after their records commit, operations never interleave, a failed commit fails its operation and
 * leaves the image as it was, and generated schedules of operations and commit outcomes keep all that.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Controller } from '../../src/controller/controller.ts';
import { ControllerQueue } from '../../src/controller/queue.ts';
import { isBrokerError } from '../../src/errors.ts';
import { MetadataImage } from '../../src/metadata/image.ts';
import type { MetadataRecord } from '../../src/metadata/records.ts';
import { listenersOf, uuidOf } from '../helpers/metadata.ts';

/** A committer whose commits the test resolves or fails one by one. */
class ManualCommitter {
  readonly waiting: {
    records: readonly MetadataRecord[];
    resolve: (v: { offset: number }) => void;
    reject: (e: Error) => void;
  }[] = [];
  offset = 0;
  inFlightMax = 0;
  commit = (records: readonly MetadataRecord[]): Promise<{ offset: number }> =>
    new Promise((resolve, reject) => {
      this.waiting.push({ records, resolve, reject });
      this.inFlightMax = Math.max(this.inFlightMax, this.waiting.length);
    });
  succeed(): void {
    const w = this.waiting.shift();
    assert.ok(w, 'a commit is waiting');
    w.resolve({ offset: ++this.offset });
  }
  fail(): void {
    const w = this.waiting.shift();
    assert.ok(w, 'a commit is waiting');
    w.reject(new Error('lost leadership'));
  }
}

const turn = () => new Promise<void>((r) => setImmediate(r));

function newQueue() {
  let ids = 0;
  const controller = new Controller(MetadataImage.EMPTY, { newTopicId: () => uuidOf(++ids) }, 0);
  const committer = new ManualCommitter();
  return { queue: new ControllerQueue(controller, committer.commit), committer };
}

const register = (id: number) => (c: Controller) =>
  c.registerBroker(
    { brokerId: id, incarnationId: `i${id}`, listeners: listenersOf(id), controllerEligible: true },
    0,
  );

test('an answer resolves only after its records commit, and the image changes only then', async () => {
  const { queue, committer } = newQueue();
  let answered = false;
  const p = queue.run(register(1)).then((a) => {
    answered = true;
    return a;
  });
  await turn();
  assert.equal(committer.waiting.length, 1);
  assert.equal(answered, false);
  assert.equal(queue.controller.image.brokers.size, 0, 'nothing applied before commit');
  committer.succeed();
  const { brokerEpoch } = await p;
  assert.equal(answered, true);
  assert.equal(queue.controller.image.brokers.get(1)?.epoch, brokerEpoch);
  assert.deepEqual(queue.controller.image.provenance, { offset: 1, epoch: -1 });
});

test('operations never interleave: the second runs only after the first committed, and sees its effect', async () => {
  const { queue, committer } = newQueue();
  const seen: number[] = [];
  const first = queue.run(register(1));
  const second = queue.run((c) => {
    seen.push(c.image.brokers.size);
    return register(2)(c);
  });
  await turn();
  assert.equal(committer.waiting.length, 1, 'the second has not run');
  assert.deepEqual(seen, []);
  committer.succeed();
  await first;
  await turn();
  assert.deepEqual(seen, [1], 'it ran against the image with the first applied');
  committer.succeed();
  await second;
  assert.equal(committer.inFlightMax, 1);
});

test('a failed commit fails its operation with NOT_CONTROLLER and changes nothing; the next one runs', async () => {
  const { queue, committer } = newQueue();
  const a = queue.run(register(1));
  const b = queue.run(register(2));
  await turn();
  committer.fail();
  await assert.rejects(
    a,
    (err: unknown) => isBrokerError(err, 'NOT_CONTROLLER') && /lost leadership/.test(err.message),
  );
  assert.equal(queue.controller.image.brokers.size, 0);
  await turn();
  committer.succeed();
  await b;
  assert.deepEqual([...queue.controller.image.brokers.keys()], [2]);
});

test('an operation that makes no records answers at once; one that throws commits nothing', async () => {
  const { queue, committer } = newQueue();
  assert.deepEqual(await queue.run((c) => c.tick(0)), { fenced: [] });
  await assert.rejects(
    queue.run((c) => c.heartbeat({ brokerId: 5, brokerEpoch: 0, metadataOffset: 0, wantShutDown: false }, 0)),
    (err: unknown) => isBrokerError(err, 'BROKER_ID_NOT_REGISTERED'),
  );
  assert.equal(committer.waiting.length, 0);
  queue.close();
  await assert.rejects(
    queue.run((c) => c.tick(0)),
    (err: unknown) => isBrokerError(err, 'NOT_CONTROLLER'),
  );
});

test('generated schedules: answers follow commits in order, failures change nothing, never two in flight', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.boolean(), { minLength: 1, maxLength: 30 }), async (outcomes) => {
      const { queue, committer } = newQueue();
      const settled: number[] = [];
      const results = outcomes.map((_, i) =>
        queue.run(register(i + 1)).then(
          () => settled.push(i),
          (err) => {
            assert.ok(isBrokerError(err, 'NOT_CONTROLLER'));
            settled.push(-i - 1);
          },
        ),
      );
      for (const [i, ok] of outcomes.entries()) {
        while (committer.waiting.length === 0) await turn();
        assert.equal(committer.waiting.length, 1, 'one commit in flight');
        assert.equal(settled.length, i, 'earlier operations settled, later ones waiting');
        if (ok) committer.succeed();
        else committer.fail();
        await results[i];
      }
      const committed = outcomes.flatMap((ok, i) => (ok ? [i + 1] : []));
      assert.deepEqual(
        [...queue.controller.image.brokers.keys()].sort((a, b) => a - b),
        committed,
      );
      assert.deepEqual(
        settled,
        outcomes.map((ok, i) => (ok ? i : -i - 1)),
      );
      assert.equal(queue.pending, 0);
    }),
    { numRuns: 50 },
  );
});
