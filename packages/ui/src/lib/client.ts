import { Client, type CombinedError, fetchExchange, subscriptionExchange } from '@urql/core';
import type { TadaDocumentNode } from 'gql.tada';
import { createClient as createWsClient } from 'graphql-ws';
import { noteAccessError } from './access.svelte.ts';
import { navigate, router } from './router.svelte.ts';

const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`;

/** One websocket for subscriptions; the session cookie authenticates it (same origin). */
export const ws = createWsClient({
  url: wsUrl,
  lazy: true,
  retryAttempts: Number.POSITIVE_INFINITY,
  on: { closed: (event) => void noteAccessError(event) },
});

export const client = new Client({
  url: '/graphql',
  exchanges: [
    fetchExchange,
    subscriptionExchange({
      forwardSubscription: (request) => ({
        subscribe: (sink) => ({ unsubscribe: ws.subscribe({ ...request, query: request.query ?? '' }, sink) }),
      }),
    }),
  ],
  // POST with JSON, plus the header the server's CSRF check asks of any other request.
  preferGetMethod: false,
  fetchOptions: { credentials: 'same-origin', headers: { 'x-slipway-csrf': '1' } },
  requestPolicy: 'network-only',
});

export interface ApiError {
  message: string;
  code: string | undefined;
  field: string | undefined;
  /** The error's other structured values (e.g. retryAfterSeconds, heldBy). */
  extensions: Record<string, unknown>;
}

export function apiError(error: CombinedError | undefined): ApiError | null {
  if (!error) return null;
  const first = error.graphQLErrors[0];
  if (!first)
    return { message: error.networkError?.message ?? error.message, code: 'NETWORK', field: undefined, extensions: {} };
  return {
    message: first.message,
    code: first.extensions?.code as string | undefined,
    field: first.extensions?.field as string | undefined,
    extensions: first.extensions ?? {},
  };
}

/** An expired session: back to sign-in, remembering the page to come back to. */
function onError(error: ApiError | null): void {
  if (error?.code === 'UNAUTHENTICATED' && !router.path.startsWith('/login')) {
    navigate(`/login?next=${encodeURIComponent(router.path)}`);
  }
}

export async function query<D, V extends Record<string, unknown>>(
  document: TadaDocumentNode<D, V>,
  variables: V,
): Promise<{ data: D | null; error: ApiError | null }> {
  const result = await client.query(document, variables).toPromise();
  const error = apiError(result.error);
  onError(error);
  return { data: (result.data as D) ?? null, error };
}

export async function mutate<D, V extends Record<string, unknown>>(
  document: TadaDocumentNode<D, V>,
  variables: V,
): Promise<{ data: D | null; error: ApiError | null }> {
  const result = await client.mutation(document, variables).toPromise();
  const error = apiError(result.error);
  onError(error);
  return { data: (result.data as D) ?? null, error };
}

export function subscribe<D, V extends Record<string, unknown>>(
  document: TadaDocumentNode<D, V>,
  variables: V,
  next: (data: D) => void,
): () => void {
  const { unsubscribe } = client.subscription(document, variables).subscribe((result) => {
    if (result.data) next(result.data as D);
    if (result.error) noteAccessError(result.error.graphQLErrors.length ? result.error.graphQLErrors : undefined);
  });
  return unsubscribe;
}
