import { createHash, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useGraphQlJit } from '@envelop/graphql-jit';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { type Database, type SecretBox, SlipwayError } from '@slipway/schema';
import { parse as parseCookies } from 'cookie';
import { type DocumentNode, GraphQLError, getOperationAST } from 'graphql';
import { createYoga, type Plugin } from 'graphql-yoga';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import sirv from 'sirv';
import { WebSocketServer } from 'ws';
import type { Directory } from './auth/directory.ts';
import { CREDENTIALS_ENDED, SocketAccess, type SocketAccessEntry } from './auth/socket-access.ts';
import { SESSION_COOKIE, type Viewer, viewerForToken } from './auth/tokens.ts';
import { Feeds } from './feeds.ts';
import { type Context, createContext, type TicketPageRow } from './graphql/context.ts';
import { retryReadsOnBrokenConnection } from './graphql/retry-reads.ts';
import { schema } from './graphql/schema.ts';
import { subscribeSharingLogs } from './graphql/shared-results.ts';
import { NotificationHub } from './notifications.ts';
import { ticketPageCache } from './read-cache.ts';
import { type AnswerSlot, answerCache, answerKey, keepAnswers } from './response-cache.ts';
import { type SocketExtra, serveGraphqlWs } from './ws-transport.ts';

export interface HttpOptions {
  database: Database;
  logger: Logger;
  /** When set, /metrics answers only requests that carry it as a Bearer token. */
  metricsToken?: string | undefined;
  /** Seals repository credentials (setSourceCredentials); without it they cannot be set. */
  secrets?: SecretBox | undefined;
  /** Directory sign-in (LDAP); without it, local accounts only. */
  directory?: Directory | undefined;
}

/**
 * Sent with every answer. The console runs under this policy (its scripts are files of its own; Svelte sets some
 * styles inline), no page may frame it, and nothing is sniffed or sent as a referrer.
 */
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; " +
    "frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** The API explorer's page: the same policy, and the fonts its editor carries in its stylesheet (data: URLs). */
const EXPLORER_POLICY = SECURITY_HEADERS['content-security-policy']?.replace(
  "font-src 'self'",
  "font-src 'self' data:",
);

function sameSecret(given: string | null, expected: string): boolean {
  if (given === null) return false;
  const [a, b] = [createHash('sha256').update(given).digest(), createHash('sha256').update(expected).digest()];
  return timingSafeEqual(a, b);
}

interface ServerContext {
  req: IncomingMessage;
  res: ServerResponse;
  /** Filled by resolvers (sign-in, sign-out), sent by onResponse. */
  responseCookies: string[];
  /** Whether the request carried an Authorization header, and whose credentials it carried (looked up once). */
  credentials: Credentials;
  /** Set when the answer may be kept for the next request like it (response-cache.ts). */
  answerSlot?: AnswerSlot;
}

interface Credentials {
  header: boolean;
  viewer: Promise<Viewer | null>;
}

/** The built console (packages/ui, `vite build`), served at `/`. */
const UI_DIST = fileURLToPath(new URL('../../ui/dist', import.meta.url));
/** The command line, one file (build.mjs), served at /cli/slipway.mjs for CI hosts to fetch. */
const CLI_FILE = fileURLToPath(new URL('../../cli/dist/slipway.mjs', import.meta.url));

/** Requests larger than this are refused before they are read. */
const MAX_BODY_BYTES = 2 * 1024 * 1024;

/** Reads a request body of at most `limit` bytes; null (and the rest left unread) when it is larger. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  if (Number(req.headers['content-length'] ?? 0) > limit) return Promise.resolve(null);
  return new Promise((resolve) => {
    let chunks: Buffer[] | null = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (chunks && size <= limit) return void chunks.push(chunk);
      // Over the limit: answer 413 at once and discard the rest as it comes, so the client can still read the
      // answer; a client that keeps on sending is cut off.
      chunks = null;
      resolve(null);
      if (size > 8 * limit) req.destroy();
    });
    req.on('end', () => resolve(chunks ? Buffer.concat(chunks) : null));
    // A client that went away gets no answer either way.
    req.once('error', () => resolve(null));
  });
}

function bearer(header: string | null | undefined): string | null {
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  return match?.[1] ?? null;
}

/** The token a request carries (Authorization, else the session cookie) and whose it is. */
function credentialsOf(db: Database['db'], req: IncomingMessage): Credentials {
  const header = req.headers.authorization;
  const token = bearer(header) ?? parseCookies(req.headers.cookie ?? '')[SESSION_COOKIE] ?? null;
  const viewer = token ? viewerForToken(db, token) : Promise.resolve(null);
  // Awaited by the answer cache and by the context; a failure reaches the client through the context.
  viewer.catch(() => {});
  return { header: header !== undefined, viewer };
}

/** Gives every error a stable `extensions.code`; anything unexpected is logged and masked. */
function toClientError(error: unknown, logger: Logger): GraphQLError {
  const original = error instanceof GraphQLError ? (error.originalError ?? undefined) : error;
  const located = error instanceof GraphQLError ? error : undefined;
  const origin = { nodes: located?.nodes, positions: located?.positions, source: located?.source, path: located?.path };
  if (original instanceof SlipwayError) {
    return new GraphQLError(original.message, { ...origin, extensions: { code: original.code, ...original.details } });
  }
  if (original instanceof GraphQLError) return toClientError(original, logger);
  if (located && !original) {
    // Parse, validation and variable errors: the request itself was wrong.
    return new GraphQLError(located.message, {
      ...origin,
      // (graphql-jit's variable errors carry no extensions object at all)
      extensions: { ...located.extensions, code: located.extensions?.code ?? 'BAD_USER_INPUT' },
    });
  }
  logger.error({ err: original ?? error, path: located?.path }, 'unexpected error in a GraphQL operation');
  return new GraphQLError('Unexpected error.', { ...origin, extensions: { code: 'INTERNAL_SERVER_ERROR' } });
}

function errorCodes(logger: Logger): Plugin {
  return {
    onResultProcess({ result, setResult }) {
      if (Array.isArray(result) || !('errors' in result) || !result.errors) return;
      setResult({ ...result, errors: result.errors.map((e) => toClientError(e, logger)) });
    },
  };
}

export interface SlipwayServer extends Server {
  /** Stops listening, ends websocket and HTTP connections, and stops listening to PostgreSQL. */
  shutdown(): Promise<void>;
}

export async function createSlipwayServer({
  database,
  logger,
  metricsToken,
  secrets,
  directory,
}: HttpOptions): Promise<SlipwayServer> {
  const hub = new NotificationHub(database.sql, logger);
  await hub.start();
  const feeds = new Feeds(database.sql, hub, logger);
  const ticketPages = ticketPageCache<TicketPageRow>();
  const answers = answerCache();
  // Made at the first scrape: a server nobody scrapes keeps no collectors running.
  let metrics: Registry | null = null;
  const contextFor = (
    viewer: Viewer | null,
    clientAddress: string,
    secureCookies: boolean,
    responseCookies: string[] = [],
    watchProject?: Context['watchProject'],
  ): Context =>
    createContext({
      ...database,
      logger,
      hub,
      feeds,
      ticketPages,
      secrets,
      directory,
      viewer,
      clientAddress,
      secureCookies,
      responseCookies,
      watchProject,
    });

  const yoga = createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    cors: false,
    landingPage: false,
    graphiql: false,
    logging: false,
    // The body was read and its size limited above (readBody, MAX_BODY_BYTES, whatever the framing): yoga's own limit
    // would pipe it through one more stream per request (an abort signal and a DOMException each) for nothing.
    maxRequestBodySize: false,
    maskedErrors: { maskError: (error) => toClientError(error, logger) },
    plugins: [
      useCSRFPrevention({ requestHeaders: ['x-slipway-csrf'] }),
      EnvelopArmorPlugin({
        maxDepth: { n: 12 },
        maxAliases: { n: 20 },
        maxDirectives: { n: 20 },
        maxTokens: { n: 4000 },
        costLimit: { maxCost: 20000 },
        blockFieldSuggestion: { enabled: true },
      }),
      // Queries and mutations run compiled: a document is compiled once (kept as long as yoga's parser cache keeps the
      // document) and then runs as plain functions. Subscriptions keep graphql-js, whose event streams the shared
      // log readers build on.
      useGraphQlJit(
        {},
        {
          enableIf: ({ document, operationName }) =>
            getOperationAST(document, operationName ?? undefined)?.operation !== 'subscription',
        },
      ),
      retryReadsOnBrokenConnection(),
      errorCodes(logger),
      keepAnswers(answers),
      {
        onResponse({ response, serverContext }) {
          for (const cookie of (serverContext as Partial<ServerContext> | undefined)?.responseCookies ?? [])
            response.headers.append('set-cookie', cookie);
        },
      },
    ],
    context: async ({ request, req, responseCookies, credentials }) => {
      const viewer = await credentials.viewer;
      if (credentials.header && !viewer)
        throw new SlipwayError('UNAUTHENTICATED', 'the token is unknown, expired or revoked');
      const secure = request.headers.get('x-forwarded-proto') === 'https' || request.url.startsWith('https:');
      return contextFor(viewer, req.socket.remoteAddress ?? 'unknown', secure, responseCookies);
    },
  });

  const consoleAssets = existsSync(join(UI_DIST, 'index.html'))
    ? sirv(UI_DIST, {
        single: true,
        etag: true,
        gzip: true,
        brotli: true,
        // Hashed assets never change under their name: cached for a year. The page itself is asked again each time.
        setHeaders: (res, pathname) =>
          res.setHeader(
            'cache-control',
            pathname.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
          ),
      })
    : null;

  /**
   * A JSON query of a signed-in viewer whose answer was kept at the clock their credentials came with: sent as kept
   * (true). Else the slot in which yoga keeps the answer, when it may be kept.
   */
  const answerKept = async (
    credentials: Credentials,
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer,
  ): Promise<true | AnswerSlot | undefined> => {
    const contentType = req.headers['content-type'];
    if (!contentType?.startsWith('application/json')) return;
    const viewer = await credentials.viewer.catch(() => null);
    if (!viewer) return;
    const key = answerKey(viewer.id, req.headers.accept ?? '', contentType, body);
    const kept = answers.get(viewer.ticketsClock, key);
    if (!kept) return { key, clock: viewer.ticketsClock };
    res.writeHead(200, { 'content-type': kept.contentType, 'content-length': kept.body.length }).end(kept.body);
    return true;
  };

  const server = createServer(async (req, res) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    if (req.url === '/healthz') {
      try {
        await database.sql`select 1`;
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok","database":"ok"}');
      } catch {
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"status":"error","database":"unreachable"}');
      }
      return;
    }
    if (req.url === '/metrics') {
      if (metricsToken && !sameSecret(bearer(req.headers.authorization), metricsToken)) {
        res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' }).end('unauthorized\n');
        return;
      }
      try {
        metrics ??= (await import('./metrics.ts')).createMetrics(database, hub, {
          answer: answers,
          ticket_page: ticketPages,
        });
        const text = await metrics.metrics();
        res.writeHead(200, { 'content-type': metrics.contentType }).end(text);
      } catch (error) {
        logger.error({ err: error }, 'metrics failed');
        res.writeHead(503, { 'content-type': 'text/plain' }).end('metrics unavailable\n');
      }
      return;
    }
    if (req.url === '/cli/slipway.mjs' && (req.method === 'GET' || req.method === 'HEAD')) {
      const file = await readFile(CLI_FILE).catch(() => null);
      if (!file) {
        res
          .writeHead(503, { 'content-type': 'text/plain; charset=utf-8' })
          .end('The command line is not built: run `node build.mjs`.\n');
        return;
      }
      res.writeHead(200, {
        'content-type': 'text/javascript; charset=utf-8',
        'content-disposition': 'attachment; filename="slipway.mjs"',
        'cache-control': 'no-cache',
        'content-length': file.length,
      });
      res.end(req.method === 'HEAD' ? undefined : file);
      return;
    }
    // A browser asking for the API itself gets the explorer (a page of the console, signed in as the person).
    if (
      (req.url === '/graphql' || req.url?.startsWith('/graphql?')) &&
      req.method === 'GET' &&
      req.headers.accept?.includes('text/html') &&
      consoleAssets
    ) {
      req.url = '/explorer.html';
      if (EXPLORER_POLICY) res.setHeader('content-security-policy', EXPLORER_POLICY);
      consoleAssets(req, res, () => {
        res.writeHead(404).end();
      });
      return;
    }
    if (req.url?.startsWith('/graphql')) {
      const credentials = credentialsOf(database.db, req);
      let answerSlot: AnswerSlot | undefined;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        // The limit counts the bytes actually read, whatever the framing (content-length or chunked).
        const body = await readBody(req, MAX_BODY_BYTES);
        if (body === null) {
          res.writeHead(413, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({ errors: [{ message: 'request too large', extensions: { code: 'BAD_USER_INPUT' } }] }),
          );
          return;
        }
        // yoga's Node adapter takes an already-read body from `req.body`.
        (req as IncomingMessage & { body?: Buffer }).body = body;
        const answered = await answerKept(credentials, req, res, body);
        if (answered === true) return;
        answerSlot = answered;
      }
      await yoga(req, res, { req, res, responseCookies: [], credentials, answerSlot });
      return;
    }
    if (!consoleAssets) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('The console is not built: run `pnpm install` (or `pnpm --filter @slipway/ui build`).\n');
      return;
    }
    consoleAssets(req, res, () => {
      res.writeHead(404).end();
    });
  });

  // No compression extension: shared log batches are written to the connection as they are (ws-transport.ts).
  const wsServer = new WebSocketServer({
    server,
    path: '/graphql',
    maxPayload: MAX_BODY_BYTES,
    perMessageDeflate: false,
  });
  const access = new SocketAccess(database.db, hub, logger);
  const credentialsEnded = () =>
    new GraphQLError('your session or token has ended: sign in again', { extensions: { code: 'UNAUTHENTICATED' } });
  serveGraphqlWs<SocketExtra & { access?: SocketAccessEntry }>(
    wsServer,
    {
      onConnect: async (ctx) => {
        const fromParams = ctx.connectionParams?.authorization;
        const token =
          bearer(typeof fromParams === 'string' ? fromParams : null) ??
          (typeof fromParams === 'string' && !fromParams.includes(' ') ? fromParams : null) ??
          sameOriginCookie(ctx.extra.request);
        const viewer = token ? await viewerForToken(database.db, token) : null;
        if (!token || !viewer) {
          // 4401 rather than graphql-ws's 4403: a client must sign in again, not retry the same credential.
          ctx.extra.socket.close(CREDENTIALS_ENDED, 'Unauthorized: sign in first');
          return false;
        }
        ctx.extra.access = access.open(token, viewer, (code, reason) => ctx.extra.socket.close(code, reason));
        return true;
      },
      onClose: (ctx) => {
        if (ctx.extra.access) access.release(ctx.extra.access);
      },
      onSubscribe: async (ctx, id, params) => {
        const entry = ctx.extra.access;
        // Every operation re-checks the credential the socket was opened with.
        const viewer = entry ? await access.current(entry) : null;
        if (!entry || !viewer) return [credentialsEnded()];
        const { execute, subscribe, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          params,
        });
        let document: DocumentNode;
        try {
          document = parse(params.query);
        } catch (error) {
          // A query that does not parse fails alone; the socket and its other operations go on.
          const message = error instanceof Error ? error.message : 'the query does not parse';
          return [new GraphQLError(message, { extensions: { code: 'GRAPHQL_PARSE_FAILED' } })];
        }
        const errors = validate(schema, document);
        if (errors.length > 0) return errors.map((e: GraphQLError) => toClientError(e, logger));
        if (getOperationAST(document, params.operationName)?.operation === 'subscription') {
          const refused = access.startSubscription(entry, id);
          if (refused) return [toClientError(refused, logger)];
        }
        return {
          schema,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue: contextFor(
            viewer,
            ctx.extra.request.socket.remoteAddress ?? 'unknown',
            false,
            [],
            (projectId) => access.watch(entry, projectId),
          ),
          rootValue: { execute, subscribe },
        };
      },
      execute: (args) => (args.rootValue as { execute: typeof import('graphql').execute }).execute(args),
      subscribe: (args) =>
        subscribeSharingLogs(args, (rest) =>
          (rest.rootValue as { subscribe: typeof import('graphql').subscribe }).subscribe(rest),
        ),
      onNext: (_ctx, _id, _params, _args, result) => {
        if ('errors' in result && result.errors) {
          return { ...result, errors: result.errors.map((e) => toClientError(e, logger)) };
        }
      },
      // A subscription that ends with an error (access lost, for one) carries its code like any other error.
      onError: (ctx, id, _params, errors) => {
        if (ctx.extra.access) access.endSubscription(ctx.extra.access, id);
        return errors.map((e) => toClientError(e, logger).toJSON());
      },
      onComplete: (ctx, id) => {
        if (ctx.extra.access) access.endSubscription(ctx.extra.access, id);
      },
    },
    logger,
  );

  /** The session cookie counts over websockets only when the page came from this server (no cross-site hijack). */
  function sameOriginCookie(request: IncomingMessage): string | null {
    const origin = URL.parse(request.headers.origin ?? '');
    if (!origin || origin.host !== request.headers.host) return null;
    return parseCookies(request.headers.cookie ?? '')[SESSION_COOKIE] ?? null;
  }

  return Object.assign(server, {
    shutdown: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const client of wsServer.clients) client.terminate();
      wsServer.close();
      server.closeAllConnections();
      await closed;
      await hub.stop();
    },
  });
}
