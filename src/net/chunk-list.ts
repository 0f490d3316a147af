/**
 * The bytes a socket has delivered and a reader has not yet taken, kept as the list of chunks the
 * socket handed over (STYLE.md "One framing implementation"). Both framings sit on it: the Kafka
 * connection (src/api/kafka/connection.ts: int32 size, then the request) and the Raft transport
 * (src/raft/frames.ts: u32 length, then the message). Nothing is concatenated per chunk; bytes are
 * taken as a view of their chunk when they lie in one, otherwise with exactly one copy, and only once
 * all of them have arrived, so a size field alone never sizes an allocation.
 */
import assert from 'node:assert/strict';

export class ChunkList {
  readonly #chunks: Buffer[] = [];
  #headOffset = 0;
  #bufferedBytes = 0;

  /** Bytes received and not yet taken. */
  get bufferedBytes(): number {
    return this.#bufferedBytes;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#bufferedBytes += chunk.length;
  }

  /** The big-endian int32 `at` bytes into the buffered data (at + 4 <= bufferedBytes). */
  peekInt32(at: number): number {
    assert.ok(at >= 0 && at + 4 <= this.#bufferedBytes);
    const head = this.#chunks[0];
    if (head.length - this.#headOffset >= at + 4) return head.readInt32BE(this.#headOffset + at);
    const bytes = Buffer.allocUnsafe(at + 4);
    this.#copyOut(bytes, at + 4, false);
    return bytes.readInt32BE(at);
  }

  /** The big-endian uint32 `at` bytes into the buffered data. */
  peekUint32(at: number): number {
    return this.peekInt32(at) >>> 0;
  }

  /**
   * Removes `n` buffered bytes and returns them: a view of the chunk when they lie in one (the common
   * case for small frames), otherwise one copy into a buffer of exactly `n` bytes.
   */
  take(n: number): Buffer {
    assert.ok(n >= 0 && n <= this.#bufferedBytes);
    if (n === 0) return Buffer.alloc(0);
    const head = this.#chunks[0];
    let out: Buffer;
    if (head.length - this.#headOffset >= n) {
      out = head.subarray(this.#headOffset, this.#headOffset + n);
      this.#headOffset += n;
      if (this.#headOffset === head.length) {
        this.#chunks.shift();
        this.#headOffset = 0;
      }
    } else {
      out = Buffer.allocUnsafe(n);
      this.#copyOut(out, n, true);
    }
    this.#bufferedBytes -= n;
    return out;
  }

  /** Copies the first `n` buffered bytes into `dst`, removing them from the list when `remove`. */
  #copyOut(dst: Buffer, n: number, remove: boolean): void {
    let copied = 0;
    let i = 0;
    let offset = this.#headOffset;
    while (copied < n) {
      const c = this.#chunks[i];
      const k = Math.min(c.length - offset, n - copied);
      c.copy(dst, copied, offset, offset + k);
      copied += k;
      offset += k;
      if (offset === c.length) {
        i++;
        offset = 0;
      }
    }
    if (remove) {
      this.#chunks.splice(0, i);
      this.#headOffset = offset;
    }
  }
}
