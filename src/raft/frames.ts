/**
 * Length-prefixed framing over a list of received chunks, for the Raft transport: `[u32 length][body]`,
 * big-endian. It follows the Kafka connection's reader (src/api/kafka/connection.ts, STYLE.md "One
 * framing implementation"): chunks are kept as the socket hands them over, a frame's length is checked
 * against the bound as soon as its four bytes are there (before any of its body is buffered on its
 * strength), and a frame is taken as a view of its chunk when it lies in one, otherwise with exactly
 * one copy of its bytes, all of which have arrived. Nothing is concatenated per chunk: the earlier
 * transport copied everything buffered on every `data` event, quadratic in a large snapshot's chunks.
 */
import assert from 'node:assert/strict';

export class FrameTooLargeError extends Error {
  readonly code = 'FRAME_TOO_LARGE';
  readonly retriable = false;
  readonly bytes: number;
  constructor(bytes: number, max: number) {
    super(`frame of ${bytes} bytes is over the ${max}-byte bound`);
    this.bytes = bytes;
  }
}

export class FrameReader {
  private readonly frameBytesMax: number;
  private readonly chunks: Uint8Array[] = [];
  private headOffset = 0;
  /** Bytes received and not yet taken as frames. */
  bufferedBytes = 0;

  /** `frameBytesMax` bounds a frame's body (the length field's value). */
  constructor(frameBytesMax: number) {
    assert.ok(frameBytesMax > 0);
    this.frameBytesMax = frameBytesMax;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.length;
  }

  /**
   * The next whole frame's body, or null until it has arrived. Throws `FrameTooLargeError` as soon as
   * a length over the bound is seen; the caller then drops the connection.
   */
  next(): Uint8Array | null {
    if (this.bufferedBytes < 4) return null;
    const len = this.peekU32();
    if (len > this.frameBytesMax) throw new FrameTooLargeError(len, this.frameBytesMax);
    if (this.bufferedBytes < 4 + len) return null;
    this.skip(4);
    return this.take(len);
  }

  private peekU32(): number {
    const head = this.chunks[0];
    const o = this.headOffset;
    if (head.length - o >= 4)
      return ((head[o] << 24) | (head[o + 1] << 16) | (head[o + 2] << 8) | head[o + 3]) >>> 0;
    const b = new Uint8Array(4);
    this.copyOut(b, 4, false);
    return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
  }

  private skip(n: number): void {
    this.take(n);
  }

  /** Removes `n` buffered bytes: a view when they lie in the head chunk, otherwise one copy. */
  private take(n: number): Uint8Array {
    assert.ok(n <= this.bufferedBytes);
    this.bufferedBytes -= n;
    if (n === 0) return new Uint8Array(0);
    const head = this.chunks[0];
    if (head.length - this.headOffset >= n) {
      const out = head.subarray(this.headOffset, this.headOffset + n);
      this.headOffset += n;
      if (this.headOffset === head.length) {
        this.chunks.shift();
        this.headOffset = 0;
      }
      return out;
    }
    const out = new Uint8Array(n);
    this.copyOut(out, n, true);
    return out;
  }

  /** Copies the first `n` buffered bytes into `dst`, removing them from the list when `remove`. */
  private copyOut(dst: Uint8Array, n: number, remove: boolean): void {
    let copied = 0;
    let i = 0;
    let offset = this.headOffset;
    while (copied < n) {
      const c = this.chunks[i];
      const k = Math.min(c.length - offset, n - copied);
      dst.set(c.subarray(offset, offset + k), copied);
      copied += k;
      offset += k;
      if (offset === c.length) {
        i++;
        offset = 0;
      }
    }
    if (remove) {
      this.chunks.splice(0, i);
      this.headOffset = offset;
    }
  }
}
