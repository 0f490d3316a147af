/**
 * Structured logs: pino JSON lines carrying the node id, or a `text` format for terminals. The text
 * format is a small in-process transform (no worker thread, no extra dependency): time, level, message,
 * then the remaining fields as key=value.
 */
import { Writable } from 'node:stream';
import pino from 'pino';

export type Logger = pino.Logger;

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

function textStream(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        try {
          const {
            time,
            level,
            msg,
            pid: _pid,
            hostname: _host,
            ...rest
          } = JSON.parse(line) as Record<string, unknown>;
          const fields = Object.entries(rest)
            .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
            .join(' ');
          out.write(
            `${new Date(time as number).toISOString()} ${(LEVEL_NAMES[level as number] ?? level).toString().padEnd(5)} ${msg}${fields ? ` ${fields}` : ''}\n`,
          );
        } catch {
          out.write(`${line}\n`);
        }
      }
      cb();
    },
  });
}

export function createLogger(opts: {
  nodeId: string;
  level: string;
  format: 'json' | 'text';
  destination?: NodeJS.WritableStream;
}): Logger {
  const out = opts.destination ?? process.stdout;
  const stream = opts.format === 'text' ? textStream(out) : out;
  return pino(
    { level: opts.level, base: { node: opts.nodeId }, timestamp: pino.stdTimeFunctions.epochTime },
    stream as pino.DestinationStream,
  );
}
