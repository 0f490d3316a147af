/**
 * A stepped harness for the controller (issue 11): operations run synchronously, their records are
 * "committed" at the next offset and replayed, and the clock only moves when the test says so.
 */
import { Controller, type ControllerOptions, type OperationResult } from '../../src/controller/controller.ts';
import { MetadataImage } from '../../src/metadata/image.ts';
import type { Listener, MetadataRecord } from '../../src/metadata/records.ts';

export function uuidOf(n: number): string {
  return `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}

export function listenersOf(id: number): Listener[] {
  return [
    { name: 'grpc', host: `node-${id}`, port: 8080 },
    { name: 'kafka', host: `node-${id}`, port: 9092 },
    { name: 'inter-broker', host: `node-${id}`, port: 9180 },
    { name: 'raft', host: `node-${id}`, port: 9080 },
  ];
}

export class Harness {
  nowMs = 0;
  offset = 0;
  /** Every committed batch, in order. */
  readonly log: MetadataRecord[][] = [];
  controller: Controller;
  #ids = 0;

  constructor(options: Partial<ControllerOptions> = {}, image: MetadataImage = MetadataImage.EMPTY) {
    this.offset = Math.max(0, image.provenance.offset);
    this.controller = new Controller(
      image,
      { newTopicId: () => uuidOf(++this.#ids), ...options },
      this.nowMs,
    );
  }

  get image(): MetadataImage {
    return this.controller.image;
  }

  /** Runs one operation and commits its records at the next offset. */
  run<T>(op: (c: Controller) => OperationResult<T>): T {
    const { records, answer } = op(this.controller);
    if (records.length > 0) {
      this.offset++;
      this.controller.replay(records, { offset: this.offset, epoch: 1 });
      this.log.push(records);
    }
    return answer;
  }

  /** Registers a broker and heartbeats it until it is unfenced (it has applied everything). */
  join(id: number, rack: string | null = null, incarnationId = `inc-${id}`): number {
    const { brokerEpoch } = this.run((c) =>
      c.registerBroker(
        { brokerId: id, incarnationId, listeners: listenersOf(id), rack, controllerEligible: true },
        this.nowMs,
      ),
    );
    this.heartbeat(id);
    return brokerEpoch;
  }

  heartbeat(id: number, wantShutDown = false, metadataOffset = this.offset) {
    const b = this.image.brokers.get(id);
    if (!b) throw new Error(`broker ${id} is not registered`);
    return this.run((c) =>
      c.heartbeat({ brokerId: id, brokerEpoch: b.epoch, metadataOffset, wantShutDown }, this.nowMs),
    );
  }

  /** Moves the clock, heartbeating the given brokers on the way, then ticks. */
  advance(ms: number, alive: readonly number[] = []): number[] {
    this.nowMs += ms;
    for (const id of alive) this.heartbeat(id);
    return this.run((c) => c.tick(this.nowMs)).fenced;
  }
}
