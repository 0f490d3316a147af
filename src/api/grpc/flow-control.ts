/**
 * The HTTP/2 flow-control window of the gRPC server's connections (`grpcFlowControlWindowBytes`).
 * grpc-js has a client option for it (`grpc-node.flow_control_window`) but no server one, and creates
 * its HTTP/2 listeners itself, so the window is set on each session as it is accepted, through the
 * listeners grpc-js keeps in its `http2Servers` map. That map is not grpc-js's public API: when a later
 * version lacks it, `widenFlowControlWindow` says so and the server runs with HTTP/2's 64 KiB window,
 * slower with large messages and otherwise the same. test/grpc/flow-control.test.ts checks the window
 * a client is granted.
 */
import type http2 from 'node:http2';
import type * as grpc from '@grpc/grpc-js';

/** Sets the window on every session of the server's listeners; false when it cannot find them. */
export function widenFlowControlWindow(server: grpc.Server, bytes: number): boolean {
  const listeners = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(listeners instanceof Map) || listeners.size === 0) return false;
  for (const listener of listeners.keys()) {
    if (typeof (listener as { on?: unknown } | null)?.on !== 'function') return false;
    (listener as http2.Http2Server).on('session', (session: http2.ServerHttp2Session) => {
      try {
        // The connection's window, then every stream's (the initial window in the server's SETTINGS).
        session.setLocalWindowSize(bytes);
        session.settings({ initialWindowSize: bytes });
      } catch {
        // The session is already closing: nothing to widen.
      }
    });
  }
  return true;
}
