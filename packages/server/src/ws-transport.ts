import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { CloseCode, handleProtocols, makeServer, type ServerOptions } from 'graphql-ws';
import type { Logger } from 'pino';
import type { WebSocket, WebSocketServer } from 'ws';

/** What every graphql-ws hook gets as `ctx.extra`. */
export interface SocketExtra {
  socket: WebSocket;
  request: IncomingMessage;
}

/** Stands in for a shared payload while graphql-ws writes the message around it. */
const SHARED = 'slipway:shared-payload';
const SHARED_TAIL = `"payload":{"data":"${SHARED}"}}`;
const serialised = new WeakMap<object, Buffer>();
/** The shared payload the message being written right now stands in for (set and taken in one synchronous step). */
let pending: Buffer | null = null;

/**
 * Marks a result's `data` as shared by many subscribers (the same batch of log lines to everyone watching a job):
 * it is turned into JSON once, and that one buffer goes out to every socket as the middle fragment of its message,
 * instead of graphql-ws serialising it again for each subscriber and each socket holding its own copy.
 */
export function shareResultData(data: object): void {
  if (!serialised.has(data)) serialised.set(data, Buffer.from(JSON.stringify(data)));
}

function replacer(this: unknown, key: string, value: unknown): unknown {
  if (key === 'data' && value !== null && typeof value === 'object') {
    const json = serialised.get(value);
    if (json) {
      pending = json;
      return SHARED;
    }
  }
  return value;
}

const CLOSING_BRACES = Buffer.from('}}');

/** The header of one unmasked, final text frame (RFC 6455 5.2) of `length` bytes, as a server sends it. */
function textFrameHeader(length: number): Buffer {
  if (length < 126) return Buffer.from([0x81, length]);
  if (length < 65_536) {
    const header = Buffer.from([0x81, 126, 0, 0]);
    header.writeUInt16BE(length, 2);
    return header;
  }
  const header = Buffer.from([0x81, 127, 0, 0, 0, 0, 0, 0, 0, 0]);
  header.writeBigUInt64BE(BigInt(length), 2);
  return header;
}

function send(socket: WebSocket, raw: Duplex, message: string): Promise<void> {
  const shared = pending;
  pending = null;
  return new Promise((resolve, reject) => {
    if (socket.readyState !== socket.OPEN) return resolve();
    const done = (error?: Error | null) => (error ? reject(error) : resolve());
    if (!shared || !message.endsWith(SHARED_TAIL)) return socket.send(message, done);
    // One text frame: the subscriber's own envelope around the batch everyone shares, written straight to the
    // connection (no copy of the batch per socket, and the client gets one frame to read, not three to join). The
    // server takes no compression extension, so ws writes every frame at once and in order: this one keeps its place.
    const head = Buffer.from(`${message.slice(0, -SHARED_TAIL.length)}"payload":{"data":`);
    raw.cork();
    raw.write(textFrameHeader(head.length + shared.length + CLOSING_BRACES.length));
    raw.write(head);
    raw.write(shared);
    raw.write(CLOSING_BRACES, done);
    raw.uncork();
  });
}

/**
 * Serves the graphql-transport-ws protocol on `wsServer` (graphql-ws's own server logic, with our socket glue: shared
 * payloads as above, keep-alive pings, errors logged rather than printed).
 */
export function serveGraphqlWs<Extra extends SocketExtra>(
  wsServer: WebSocketServer,
  options: ServerOptions<Record<string, unknown>, Extra>,
  logger: Logger,
  keepAliveMs = 12_000,
): void {
  if (wsServer.options.perMessageDeflate)
    throw new Error('shared payloads are written uncompressed: no perMessageDeflate');
  const server = makeServer({ ...options, jsonMessageReplacer: replacer });
  wsServer.options.handleProtocols = handleProtocols;
  wsServer.on('connection', (socket, request) => {
    socket.once('error', (error) => {
      logger.warn({ err: error }, 'websocket error');
      socket.close(CloseCode.InternalServerError, 'Internal server error');
    });
    // A peer that stops answering pings is dropped (its subscriptions end with it).
    let pongWait: NodeJS.Timeout | null = null;
    const pinging = setInterval(() => {
      if (socket.readyState !== socket.OPEN) return;
      pongWait ??= setTimeout(() => socket.terminate(), keepAliveMs);
      socket.ping();
    }, keepAliveMs);
    socket.on('pong', () => {
      if (pongWait) clearTimeout(pongWait);
      pongWait = null;
    });
    const closed = server.opened(
      {
        protocol: socket.protocol,
        send: (message) => send(socket, request.socket, message),
        close: (code, reason) => socket.close(code, reason),
        onMessage: (handle) =>
          socket.on('message', async (data) => {
            try {
              await handle(String(data));
            } catch (error) {
              logger.error({ err: error }, 'websocket message handling failed');
              socket.close(CloseCode.InternalServerError, 'Internal server error');
            }
          }),
      },
      { socket, request } as Extra,
    );
    socket.once('close', (code, reason) => {
      clearInterval(pinging);
      if (pongWait) clearTimeout(pongWait);
      void closed(code, String(reason));
    });
  });
}
