/**
 * CRC-32C (Castagnoli), the checksum of RecordBatch v2. The native, SIMD implementation from
 * `@node-rs/crc32` runs at memory speed, which is what lets the log verify every batch it appends and
 * every batch it serves.
 */
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/** CRC-32C of `bytes`, continuing from `initial` (0 for a fresh checksum). Unsigned 32-bit result. */
export function crc32c(bytes: Uint8Array, initial = 0): number {
  return nativeCrc32c(bytes as Buffer, initial) >>> 0;
}
