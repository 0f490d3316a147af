/**
 * A small replicated key-value state machine: the workload of the simulator and of the process tests.
 * Commands are JSON (readability beats speed here); `apply` is deterministic, so every replica that
 * applies the same commands in the same order holds the same map.
 */
import assert from 'node:assert/strict';

export type KvCommand =
  | { readonly t: 'put'; readonly k: string; readonly v: string; readonly id: string }
  | { readonly t: 'get'; readonly k: string; readonly id: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeKvCommand(c: KvCommand): Uint8Array {
  return encoder.encode(JSON.stringify(c));
}

export function decodeKvCommand(data: Uint8Array): KvCommand {
  const c = JSON.parse(decoder.decode(data)) as KvCommand;
  assert.ok(c.t === 'put' || c.t === 'get', `unknown kv command ${JSON.stringify(c)}`);
  return c;
}

export class KvStore {
  private map = new Map<string, string>();
  /** Index of the last entry applied (or of the snapshot restored). */
  applied = 0;

  /** Applies the entry at `index`; returns the value read (get) or written (put). Empty data is a no-op. */
  apply(index: number, data: Uint8Array): { cmd: KvCommand; result: string | null } | null {
    assert.equal(index, this.applied + 1, `kv applies in order: ${index} after ${this.applied}`);
    this.applied = index;
    if (data.length === 0) return null;
    const cmd = decodeKvCommand(data);
    if (cmd.t === 'put') {
      this.map.set(cmd.k, cmd.v);
      return { cmd, result: cmd.v };
    }
    return { cmd, result: this.map.get(cmd.k) ?? null };
  }

  /** Advances past a Raft entry that carries no command (a membership change). */
  skip(index: number): void {
    assert.equal(index, this.applied + 1);
    this.applied = index;
  }

  get(k: string): string | null {
    return this.map.get(k) ?? null;
  }

  size(): number {
    return this.map.size;
  }

  snapshot(): Uint8Array {
    const keys = [...this.map.keys()].sort();
    return encoder.encode(
      JSON.stringify({ applied: this.applied, kv: keys.map((k) => [k, this.map.get(k)]) }),
    );
  }

  restore(data: Uint8Array, index: number): void {
    if (data.length === 0) {
      this.map = new Map();
    } else {
      const s = JSON.parse(decoder.decode(data)) as { applied: number; kv: [string, string][] };
      assert.equal(s.applied, index, 'snapshot data must match its index');
      this.map = new Map(s.kv);
    }
    this.applied = index;
  }

  /** A digest of the whole state, for comparing replicas. */
  digest(): string {
    return `${this.applied}:${JSON.stringify([...this.map.entries()].sort())}`;
  }
}
