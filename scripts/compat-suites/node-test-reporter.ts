/**
 * A reporter for node:test (`--test-reporter`), loaded by the client's own test process when
 * `scripts/compat-suites.ts` runs @platformatic/kafka's suite: one JSON line per finished test
 * (not per suite), with its path of names, its state and the first line of what failed it, so the
 * runner counts tests without parsing human-oriented output.
 */

interface TestEventData {
  name: string;
  nesting: number;
  file?: string;
  skip?: boolean | string;
  todo?: boolean | string;
  details?: { duration_ms?: number; type?: string; error?: unknown };
}

interface TestEvent {
  type: string;
  data: TestEventData;
}

interface ErrorLike {
  message?: string;
  code?: string;
  cause?: unknown;
  errors?: unknown[];
  /** @platformatic/kafka's ProtocolError: the Kafka error's name, its path and the broker's message. */
  apiId?: string;
  path?: string;
  serverErrorMessage?: string | null;
}

/**
 * The message that explains a failure, following causes and the first of grouped errors down to the
 * Kafka error: node wraps the thrown error as the cause of ERR_TEST_FAILURE, and @platformatic/kafka
 * groups retries' errors (MultipleErrors) around a ResponseError around ProtocolErrors.
 */
function failureText(error: unknown): string {
  const seen = new Set<unknown>();
  const parts: string[] = [];
  let e = error as ErrorLike | undefined;
  while (e && typeof e === 'object' && !seen.has(e) && parts.length < 6) {
    seen.add(e);
    if (e.code !== 'ERR_TEST_FAILURE') {
      const code = e.code ? `${e.code}: ` : '';
      const kafka = e.apiId
        ? ` [${e.apiId}${e.path ? ` at ${e.path}` : ''}${e.serverErrorMessage ? `: ${e.serverErrorMessage}` : ''}]`
        : '';
      if (e.message || kafka) parts.push(`${code}${e.message ?? ''}${kafka}`);
    }
    const inner = Array.isArray(e.errors) && e.errors.length > 0 ? e.errors[0] : undefined;
    e = (e.cause ?? inner) as ErrorLike | undefined;
  }
  if (parts.length === 0 && error && typeof error === 'object' && 'message' in error) {
    parts.push(String((error as { message: unknown }).message));
  }
  return parts.join(' <- ').replace(/\s+/g, ' ').slice(0, 700);
}

export default async function* reporter(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const stack: string[] = [];
  for await (const event of source) {
    const { type, data } = event;
    if (type === 'test:start') {
      stack[data.nesting] = data.name;
      stack.length = data.nesting + 1;
      continue;
    }
    if (type !== 'test:pass' && type !== 'test:fail') continue;
    // A suite fails when one of its tests does, and those are counted already.
    if (data.details?.type === 'suite') continue;
    const path = [...stack.slice(0, data.nesting), data.name];
    const state =
      type === 'test:fail'
        ? 'failed'
        : data.skip !== undefined || data.todo !== undefined
          ? 'skipped'
          : 'passed';
    const line: Record<string, unknown> = { path, state, durationMs: data.details?.duration_ms ?? 0 };
    if (type === 'test:fail') line.error = failureText(data.details?.error);
    if (state === 'skipped' && typeof data.skip === 'string') line.reason = data.skip;
    yield `${JSON.stringify(line)}\n`;
  }
}
