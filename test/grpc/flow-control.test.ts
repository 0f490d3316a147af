/**
 * The gRPC door grants each connection and each stream an 8 MiB HTTP/2 flow-control window, not
 * HTTP/2's 64 KiB (src/api/grpc/limits.ts): checked on a real broker process from a plain HTTP/2
 * client, which sees the window in the server's SETTINGS and in the connection's send window.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, test } from 'node:test';
import { grpcFlowControlWindowBytes } from '../../src/api/grpc/limits.ts';
import { type BrokerProcess, spawnBroker } from '../helpers/broker-process.ts';
import { tempDir } from '../helpers/tmp.ts';

let broker: BrokerProcess;
before(async () => {
  broker = await spawnBroker(await tempDir());
});
after(async () => {
  await broker?.stop();
});

test('a connection to the gRPC port is granted the 8 MiB window, for itself and for each stream', async () => {
  const session = http2.connect(`http://${broker.grpcAddress}`);
  try {
    await new Promise<void>((resolve, reject) => {
      session.once('error', reject);
      session.once('remoteSettings', () => resolve());
    });
    // The connection's window arrives as a WINDOW_UPDATE just after the SETTINGS.
    const deadline = Date.now() + 5000;
    while ((session.state.remoteWindowSize ?? 0) < grpcFlowControlWindowBytes && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    assert.equal(session.remoteSettings.initialWindowSize, grpcFlowControlWindowBytes);
    assert.equal(session.state.remoteWindowSize, grpcFlowControlWindowBytes);
  } finally {
    session.destroy();
  }
});
