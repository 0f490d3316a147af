/**
 * Request and response headers (https://kafka.apache.org/protocol#protocol_messages).
 *
 * Request Header v1 => request_api_key request_api_version correlation_id client_id
 *   request_api_key => INT16  request_api_version => INT16  correlation_id => INT32
 *   client_id => NULLABLE_STRING
 * Request Header v2 => request_api_key request_api_version correlation_id client_id TAGGED_FIELDS
 *   (client_id stays a non-compact NULLABLE_STRING in v2, so that a broker can read it before it
 *   knows whether the API version is flexible: KIP-482)
 *
 * Response Header v0 => correlation_id
 * Response Header v1 => correlation_id TAGGED_FIELDS
 *
 * Which version applies depends on the API and its version (apis/index.ts); ApiVersions responses
 * always use v0.
 */
import { BrokerError } from '../../errors.ts';
import type { Reader } from './reader.ts';
import type { Writer } from './writer.ts';

/** The three fields every request header starts with, whatever its version. */
export interface RequestHeaderPrefix {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
}

export interface RequestHeader extends RequestHeaderPrefix {
  clientId: string | null;
}

/** Bytes of the fixed part: api key, api version, correlation id. */
export const requestHeaderPrefixBytes = 8;

export function readRequestHeaderPrefix(r: Reader): RequestHeaderPrefix {
  const apiKey = r.int16();
  const apiVersion = r.int16();
  const correlationId = r.int32();
  return { apiKey, apiVersion, correlationId };
}

/** Reads the rest of a request header of version 1 or 2, after `readRequestHeaderPrefix`. */
export function readRequestHeaderRest(
  r: Reader,
  prefix: RequestHeaderPrefix,
  headerVersion: 1 | 2,
): RequestHeader {
  const clientId = r.string(true);
  if (headerVersion === 2) skipTaggedFields(r);
  return { ...prefix, clientId };
}

/** Skips a tagged-field section; the request header defines no tags that we use. */
export function skipTaggedFields(r: Reader): void {
  const count = r.uvarint();
  if (count * 2 > r.remaining())
    throw new BrokerError('INVALID_REQUEST', `tagged field count ${count} too large`);
  for (let i = 0; i < count; i++) {
    r.uvarint();
    r.skip(r.uvarint());
  }
}

/** Writes a request header (used by tests and by any client-side use of the codec). */
export function writeRequestHeader(w: Writer, h: RequestHeader, headerVersion: 1 | 2): void {
  w.int16(h.apiKey).int16(h.apiVersion).int32(h.correlationId).string(h.clientId);
  if (headerVersion === 2) w.uvarint(0);
}

export function writeResponseHeader(w: Writer, correlationId: number, headerVersion: 0 | 1): void {
  w.int32(correlationId);
  if (headerVersion === 1) w.uvarint(0);
}

/** Reads a response header (used by tests to check what the listener sent). */
export function readResponseHeader(r: Reader, headerVersion: 0 | 1): { correlationId: number } {
  const correlationId = r.int32();
  if (headerVersion === 1) skipTaggedFields(r);
  return { correlationId };
}
