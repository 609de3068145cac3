import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';
import type { TestApi } from './api.ts';

/** Runs an operation that must succeed; answers its data. */
// biome-ignore lint/suspicious/noExplicitAny: test code reads the answers field by field
export async function ok<T = Record<string, any>>(
  api: TestApi,
  token: string,
  query: string,
  variables?: Record<string, unknown>,
): Promise<T> {
  const response = await api.gql<T>(query, variables, { token });
  expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
  return response.data as T;
}

/** Files a ticket through the API as `token`'s user; answers its id. */
export async function submitTicket(
  api: TestApi,
  token: string,
  projectId: string,
  reason: string,
  paths: string[],
): Promise<string> {
  const data = await ok(api, token, 'mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }', {
    i: { projectId, reason, paths },
  });
  return data.submitTicket.id as string;
}

/** Asks for a rollback to `releaseId` as `requester` and has `approver` approve it; answers the ticket's id. */
export async function approvedRollback(
  api: TestApi,
  requester: string,
  approver: string,
  releaseId: string,
  reason: string,
): Promise<string> {
  const data = await ok(
    api,
    requester,
    'mutation($r: ID!, $why: String!) { requestRollback(releaseId: $r, reason: $why) { id } }',
    {
      r: releaseId,
      why: reason,
    },
  );
  const id = data.requestRollback.id as string;
  await ok(api, approver, 'mutation($id: ID!) { approveTicket(id: $id) { id } }', { id });
  return id;
}

/** Waits until `read` answers something `done` accepts (a condition, polled; never a fixed sleep). */
export async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T;
  do {
    last = await read();
    if (done(last)) return last;
    await sleep(50);
  } while (Date.now() < deadline);
  throw new Error(`condition not met in ${timeoutMs} ms; last value: ${JSON.stringify(last)}`);
}

export interface TicketView {
  id: string;
  state: string;
  availableActions: string[];
  events: {
    action: string;
    from: string | null;
    to: string;
    comment: string | null;
    actor: { login: string } | null;
  }[];
  jobs: { id: string; kind: string; state: string; error: string | null }[];
  release: { tag: string } | null;
  deployResults: {
    targetName: string;
    outcome: string;
    bytesSent: number;
    filesChanged: number;
    error: string | null;
  }[];
}

const TICKET = `query($id: ID!) { ticket(id: $id) { id state availableActions
  events { action from to comment actor { login } }
  jobs { id kind state error } release { tag } deployResults { targetName outcome bytesSent filesChanged error } } }`;

export async function ticket(api: TestApi, token: string, id: string): Promise<TicketView> {
  return (await ok<{ ticket: TicketView }>(api, token, TICKET, { id })).ticket;
}

export function waitForState(api: TestApi, token: string, id: string, states: string | string[], timeoutMs?: number) {
  const wanted = Array.isArray(states) ? states : [states];
  return waitFor(
    () => ticket(api, token, id),
    (t) => wanted.includes(t.state),
    timeoutMs,
  );
}

/** Waits until something accepts connections on 127.0.0.1:`port` (a server the test started). */
export function waitForPort(port: number, timeoutMs?: number): Promise<boolean> {
  return waitFor(
    () =>
      new Promise<boolean>((resolve) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.end();
          resolve(true);
        });
        socket.on('error', () => resolve(false));
      }),
    (up) => up,
    timeoutMs,
  );
}
