import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';

export interface WsMessage {
  id?: string;
  type: string;
  // biome-ignore lint/suspicious/noExplicitAny: test code reads the payloads field by field
  payload?: any;
  at: number;
}

/**
 * One raw graphql-transport-ws connection, frame by frame: what a client sends and receives on one socket, with the
 * time each message and the close arrived (a library client would reconnect or hide the close code).
 */
export class RawGraphqlSocket {
  readonly messages: WsMessage[] = [];
  closed: { code: number; reason: string; at: number } | null = null;

  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (data) => this.messages.push({ ...JSON.parse(String(data)), at: Date.now() }));
    socket.on('close', (code, reason) => {
      this.closed = { code, reason: String(reason), at: Date.now() };
    });
  }

  /** Opens a socket and sends connection_init with the token; waits for the ack (or the close). */
  static async open(apiUrl: string, token: string | null): Promise<RawGraphqlSocket> {
    const socket = new WebSocket(`${apiUrl.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    const raw = new RawGraphqlSocket(socket);
    raw.send({ type: 'connection_init', payload: token ? { authorization: `Bearer ${token}` } : {} });
    await raw.until(() => raw.closed !== null || raw.messages.some((m) => m.type === 'connection_ack'));
    return raw;
  }

  send(message: Record<string, unknown>): void {
    this.socket.send(JSON.stringify(message));
  }

  sendRaw(text: string): void {
    this.socket.send(text);
  }

  subscribe(id: string, query: string, variables: Record<string, unknown> = {}): void {
    this.send({ id, type: 'subscribe', payload: { query, variables } });
  }

  of(id: string): WsMessage[] {
    return this.messages.filter((m) => m.id === id);
  }

  /** Waits until `done()` holds (checked every 10 ms), or fails after `timeoutMs`. */
  async until(done: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`not reached in ${timeoutMs} ms; messages: ${this.describe()}`);
      await sleep(10);
    }
  }

  close(): void {
    this.socket.close();
  }

  /** Stops reading the socket (the server's sends back up), as a client that cannot keep up would. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  private describe(): string {
    return JSON.stringify({ closed: this.closed, messages: this.messages.slice(-5) });
  }
}
