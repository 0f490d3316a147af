/**
 * The built-in ApiVersions answer (API key 18), computed once from the table in apis/index.ts.
 *
 * KIP-511: when a client asks with a version above ours, the answer is a version 0 response with
 * UNSUPPORTED_VERSION (35) that still lists our ranges, so the client can pick a version and retry.
 * Kafka's broker does exactly this (KafkaApis.handleApiVersionsRequest), and librdkafka and
 * kafka-python both rely on it to negotiate down.
 */

import type { ApiVersionsResponse } from '../../protocol/kafka/apis/api-versions.ts';
import { API_KEYS, APIS } from '../../protocol/kafka/apis/index.ts';
import { KAFKA_ERRORS } from '../../protocol/kafka/error-codes.ts';

/** Our advertised ranges, ordered by API key as Kafka lists them. */
export function advertisedApiKeys(): ApiVersionsResponse['apiKeys'] {
  return [...APIS.values()]
    .sort((a, b) => a.key - b.key)
    .map((a) => ({ apiKey: a.key, minVersion: a.minVersion, maxVersion: a.maxVersion }));
}

/** The response body for an ApiVersions request of a version we support. */
export function apiVersionsResponse(): Partial<ApiVersionsResponse> {
  return { errorCode: 0, apiKeys: advertisedApiKeys(), throttleTimeMs: 0 };
}

/** The version 0 body answering an ApiVersions request whose version is above ours. */
export function apiVersionsUnsupportedResponse(): Partial<ApiVersionsResponse> {
  return { errorCode: KAFKA_ERRORS.UNSUPPORTED_VERSION.code, apiKeys: advertisedApiKeys() };
}

export const apiVersionsKey = API_KEYS.ApiVersions;
