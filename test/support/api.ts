import type { AddressInfo } from 'node:net';
import { SecretBox, users } from '@slipway/schema';
import { hashPassword } from '@slipway/server/auth/passwords';
import { createSession } from '@slipway/server/auth/tokens';
import { createSlipwayServer, type HttpOptions } from '@slipway/server/http';
import { pino } from 'pino';
import { TEST_SECRET_KEY, type TestDatabase } from './db.ts';

export interface GraphQLResponse<T = Record<string, unknown>> {
  status: number;
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string; field?: string } & Record<string, unknown> }[];
  headers: Headers;
}

export interface TestApi {
  url: string;
  gql<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    options?: { token?: string | null; headers?: Record<string, string> },
  ): Promise<GraphQLResponse<T>>;
  close(): Promise<void>;
}

/** The real HTTP server (yoga + ws) on a free port, in this process, against a test database. */
export async function startTestApi(
  database: TestDatabase,
  options: Partial<Pick<HttpOptions, 'directory'>> = {},
): Promise<TestApi> {
  const server = await createSlipwayServer({
    database,
    logger: pino({ level: 'silent' }),
    secrets: SecretBox.fromPassphrase(TEST_SECRET_KEY),
    ...options,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    async gql(query, variables, options = {}) {
      const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers };
      if (options.token) headers.authorization = `Bearer ${options.token}`;
      const response = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ query, variables }),
      });
      const text = await response.text();
      let body: { data?: unknown; errors?: GraphQLResponse['errors'] } = {};
      try {
        body = JSON.parse(text);
      } catch {
        body = { errors: [{ message: text }] };
      }
      return { status: response.status, headers: response.headers, ...(body as object) } as GraphQLResponse<never>;
    },
    close: () => server.shutdown(),
  };
}

export interface TestUser {
  id: number;
  login: string;
  password: string;
  token: string;
}

/** A user written straight to the database, with a fresh session token. */
export async function createTestUser(
  database: TestDatabase,
  login: string,
  options: { isAdmin?: boolean; password?: string } = {},
): Promise<TestUser> {
  const password = options.password ?? `${login}-password`;
  const [row] = await database.db
    .insert(users)
    .values({ login, name: login, passwordHash: await hashPassword(password), isAdmin: options.isAdmin ?? false })
    .returning();
  if (!row) throw new Error('no user row');
  const { token } = await createSession(database.db, row.id);
  return { id: row.id, login, password, token };
}
