/**
 * Length-prefixed framing for the Raft transport: `[u32 length][body]`, big-endian, over the chunk list
 * the Kafka connection reads with too (src/net/chunk-list.ts, STYLE.md "One framing implementation"):
 * chunks are kept as the socket hands them over, a frame's length is checked
 * against the bound as soon as its four bytes are there (before any of its body is buffered on its
 * strength), and a frame is taken as a view of its chunk when it lies in one, otherwise with exactly
 * one copy of its bytes, all of which have arrived. Nothing is concatenated per chunk: the earlier
 * transport copied everything buffered on every `data` event, quadratic in a large snapshot's chunks.
 */
import assert from 'node:assert/strict';
import { ChunkList } from '../net/chunk-list.ts';

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
  private readonly chunks = new ChunkList();

  /** `frameBytesMax` bounds a frame's body (the length field's value). */
  constructor(frameBytesMax: number) {
    assert.ok(frameBytesMax > 0);
    this.frameBytesMax = frameBytesMax;
  }

  /** Bytes received and not yet taken as frames. */
  get bufferedBytes(): number {
    return this.chunks.bufferedBytes;
  }

  push(chunk: Uint8Array): void {
    this.chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
  }

  /**
   * The next whole frame's body, or null until it has arrived. Throws `FrameTooLargeError` as soon as
   * a length over the bound is seen; the caller then drops the connection. The body is a plain
   * Uint8Array view, never a Buffer: the decoder's slice() of entry data must copy, and Buffer's
   * slice() does not, which would pin the socket's chunk for as long as the entry lives in the log.
   */
  next(): Uint8Array | null {
    if (this.chunks.bufferedBytes < 4) return null;
    const len = this.chunks.peekUint32(0);
    if (len > this.frameBytesMax) throw new FrameTooLargeError(len, this.frameBytesMax);
    if (this.chunks.bufferedBytes < 4 + len) return null;
    this.chunks.take(4);
    const body = this.chunks.take(len);
    return new Uint8Array(body.buffer, body.byteOffset, body.length);
  }
}
