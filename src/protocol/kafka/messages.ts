/**
 * Whole-frame encoding and decoding of requests and responses for a known API and version: header
 * plus body, driven by the table in apis/index.ts. The listener (connection.ts) uses the response
 * side; tests and the fuzzer use both.
 */
import assert from 'node:assert/strict';
import { type ApiEntry, requestHeaderVersion, responseHeaderVersion } from './apis/index.ts';
import { decodeMessage, encodeMessage, type Message } from './codec.ts';
import { type RequestHeader, readResponseHeader, writeRequestHeader, writeResponseHeader } from './header.ts';
import { Reader } from './reader.ts';
import { Writer } from './writer.ts';

/** Encodes a whole request frame (size, header, body) as a list of buffers. */
export function encodeRequestFrame(api: ApiEntry, header: RequestHeader, body: Message): Buffer[] {
  assert.equal(header.apiKey, api.key);
  const w = new Writer();
  writeRequestHeader(w, header, requestHeaderVersion(api, header.apiVersion));
  encodeMessage(w, api.request.plan(header.apiVersion), body);
  return w.prependLength().buffers();
}

/** Encodes a whole response frame (size, header, body) as a list of buffers. */
export function encodeResponseFrame(
  api: ApiEntry,
  version: number,
  correlationId: number,
  body: Message,
): Buffer[] {
  const w = new Writer();
  writeResponseHeader(w, correlationId, responseHeaderVersion(api, version));
  encodeMessage(w, api.response.plan(version), body);
  return w.prependLength().buffers();
}

/**
 * Decodes a response frame's payload (without its size field). Trailing bytes are an error: the
 * schema must account for every byte.
 */
export function decodeResponsePayload(
  api: ApiEntry,
  version: number,
  payload: Buffer,
): { correlationId: number; body: Message } {
  const r = new Reader(payload);
  const { correlationId } = readResponseHeader(r, responseHeaderVersion(api, version));
  const body = decodeMessage(r, api.response.plan(version));
  if (r.remaining() !== 0)
    throw new Error(`${r.remaining()} trailing bytes after ${api.name} v${version} response`);
  return { correlationId, body };
}

/**
 * Decodes a request body for a known API and version. Bytes left after the body are not an error:
 * Kafka's broker reads the fields its schema names and ignores the rest, and clients rely on it
 * (librdkafka 2.1 and later send Metadata v12 with 3 trailing bytes, librdkafka issue #5049). The
 * count is returned so that the listener can log and count it.
 */
export function decodeRequestBody(
  api: ApiEntry,
  version: number,
  r: Reader,
): { body: Message; trailingBytes: number } {
  const body = decodeMessage(r, api.request.plan(version));
  return { body, trailingBytes: r.remaining() };
}
