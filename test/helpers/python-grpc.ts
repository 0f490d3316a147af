/**
 * Runs test/grpc/python-client.py, a gRPC client that is not ours (Debian's Python grpcio, stubs
 * compiled from our .proto files at run time), against a broker, and returns what it printed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { debianPython } from './debian.ts';

const root = new URL('../../', import.meta.url).pathname;

export function runPythonGrpcClient(grpcAddress: string, outDir: string): Record<string, unknown> {
  const r = spawnSync(
    debianPython,
    [
      `${root}test/grpc/python-client.py`,
      grpcAddress,
      `${root}proto`,
      `${root}node_modules/@grpc/reflection/build/proto`,
      outDir,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}
