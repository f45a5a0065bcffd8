/**
 * The HTTP listener, with a shutdown that resets nothing (RFC 9112 §9.6, "tear-down"): stop
 * accepting; every response from then on says `Connection: close`, so each kept-alive connection
 * closes after its current response; a connection that is idle is left to send one more request
 * (answered the same way) or to reach the keep-alive timeout it was promised in `Keep-Alive:
 * timeout=…` — closing it sooner races a request the client may be sending at that moment, and a
 * request arriving on a closed socket is what clients see as a reset. At the deadline whatever is
 * left is cut.
 */
import http from 'node:http';
import net from 'node:net';
import type { Listener } from '../feature';

export type HttpListener = Listener & {
  server: http.Server;
  /** Stops accepting and waits (until `deadline`, epoch ms) for every connection to finish; returns how many were cut. */
  drain(deadline: number): Promise<number>;
};

/** Seconds an idle kept-alive connection stays open; sent to clients in `Keep-Alive: timeout=`. */
const KEEP_ALIVE_SECONDS = 5;

export function httpListener(app: http.RequestListener, port: number): HttpListener {
  let draining = false;
  /** Responses not yet finished, to turn into `Connection: close` when the drain starts. */
  const open = new Set<http.ServerResponse>();
  const sockets = new Set<net.Socket>();

  const server = http.createServer((req, res) => {
    open.add(res);
    res.once('close', () => open.delete(res));
    if (draining) res.setHeader('Connection', 'close');
    app(req, res);
  });
  server.keepAliveTimeout = KEEP_ALIVE_SECONDS * 1000;
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  /** Stops accepting without closing idle connections (http.Server#close would). */
  const stopAccepting = () =>
    new Promise<void>((resolve) => {
      if (!server.listening) {
        resolve();
        return;
      }
      net.Server.prototype.close.call(server, () => resolve());
    });

  const beginDrain = () => {
    draining = true;
    for (const res of open) if (!res.headersSent) res.setHeader('Connection', 'close');
  };

  return {
    name: 'http',
    server,
    start: () =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, () => resolve());
      }),
    async drain(deadline) {
      beginDrain();
      const closed = stopAccepting();
      const timeLeft = Math.max(0, deadline - Date.now());
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), timeLeft);
      });
      const outcome = await Promise.race([closed.then(() => 'drained' as const), late]);
      clearTimeout(timer);
      if (outcome === 'drained') return 0;
      const cut = sockets.size;
      for (const socket of sockets) socket.destroy();
      await closed;
      return cut;
    },
    /** Without a drain (tests, a failed start): in-flight requests finish, idle connections close now. */
    close: () =>
      new Promise<void>((resolve) => {
        beginDrain();
        if (!server.listening) {
          server.closeAllConnections();
          resolve();
          return;
        }
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
