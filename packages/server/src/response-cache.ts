import {
  BREAK,
  type DocumentNode,
  type GraphQLSchema,
  getOperationAST,
  TypeInfo,
  visit,
  visitWithTypeInfo,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { ClockCache } from './read-cache.ts';

/**
 * The fields whose values come from the clocked tables alone (tickets, users, memberships: see ClockCache) and the
 * viewer, including who may read them (`tickets` and `ticket` ask for an admin or a member of the project). An answer
 * made of nothing else is the same for the same viewer while the clock stays where it was. A field added here must
 * read nothing else (no project, job, release, environment or setting), or a change to that would be answered late.
 */
const CLOCKED_FIELDS = new Set([
  'Query.tickets',
  'Query.ticket',
  'TicketConnection.edges',
  'TicketConnection.pageInfo',
  'TicketEdge.cursor',
  'TicketEdge.node',
  'PageInfo.hasNextPage',
  'PageInfo.endCursor',
  'Ticket.id',
  'Ticket.kind',
  'Ticket.state',
  'Ticket.reason',
  'Ticket.paths',
  'Ticket.createdAt',
  'Ticket.updatedAt',
  'Ticket.stagedRevision',
  'Ticket.scheduledAt',
  'Ticket.scheduledBy',
  'Ticket.author',
  'User.id',
  'User.login',
  'User.name',
  'User.isAdmin',
  'User.directory',
  'User.email',
  'User.mobile',
  'User.disabled',
  'User.createdAt',
  'User.mustChangePassword',
]);

/** Whether a document's every field is clocked (and every operation a query): decided once per parsed document. */
const verdicts = new WeakMap<DocumentNode, boolean>();

export function readsOnlyClocked(schema: GraphQLSchema, document: DocumentNode, operationName?: string | null) {
  if (getOperationAST(document, operationName) === null) return false;
  let verdict = verdicts.get(document);
  if (verdict === undefined) {
    verdict = everyFieldClocked(schema, document);
    verdicts.set(document, verdict);
  }
  return verdict;
}

function everyFieldClocked(schema: GraphQLSchema, document: DocumentNode): boolean {
  // Every operation and fragment of the document counts, used or not: a document is cached whole or not at all.
  if (document.definitions.some((d) => d.kind === 'OperationDefinition' && d.operation !== 'query')) return false;
  const types = new TypeInfo(schema);
  let clocked = true;
  visit(
    document,
    visitWithTypeInfo(types, {
      Field(field) {
        if (field.name.value === '__typename') return;
        const parent = types.getParentType();
        if (parent && CLOCKED_FIELDS.has(`${parent.name}.${field.name.value}`)) return;
        clocked = false;
        return BREAK;
      },
    }),
  );
  return clocked;
}

const JSON_ANSWER = /^application\/(graphql-response\+)?json\b/;

/** An answer kept: the bytes yoga sent and their content type. */
export interface CachedAnswer {
  body: Buffer;
  contentType: string;
}

/**
 * Where a request that may be answered from the cache keeps what its answer needs (carried in yoga's server context):
 * the cache key and clock it was looked up with, whether its operation reads only clocked fields, and the answer.
 */
export interface AnswerSlot {
  key: string;
  clock: number;
  clocked?: boolean;
  body?: string;
}

/** Whole answers, bounded by their bytes (8 MiB unless told). */
export const answerCache = (maxBytes = 8 * 1024 * 1024) =>
  new ClockCache<CachedAnswer>(maxBytes, (answer) => answer.body.length);

/**
 * The cache key of an answer: the viewer (their fields and rights), the media types asked and sent (they choose the
 * answer's content type and status), and the whole body as its bytes came (document, operation name, variables).
 */
export const answerKey = (viewerId: number, accept: string, contentType: string, body: Buffer) =>
  `${viewerId}\n${accept}\n${contentType}\n${body.toString('latin1')}`;

/**
 * Keeps the answers of clocked queries that succeeded (data, no error or extension), as sent: the next request with
 * the same key that sees the same clock gets these bytes without running the operation (http.ts).
 */
export function keepAnswers(
  cache: ClockCache<CachedAnswer>,
): Plugin<{ answerSlot?: AnswerSlot }, { answerSlot?: AnswerSlot }> {
  return {
    onExecute({ args }) {
      const slot = args.contextValue.answerSlot;
      if (slot) slot.clocked = readsOnlyClocked(args.schema, args.document, args.operationName);
    },
    onResultProcess({ result, setResult, serverContext }) {
      const slot = serverContext.answerSlot;
      if (!slot?.clocked || Array.isArray(result) || Symbol.asyncIterator in result) return;
      if (result.errors || result.extensions || !result.data) return;
      const body = (result.stringify ?? JSON.stringify)(result);
      slot.body = body;
      // Sent as kept: serialized once.
      setResult({ ...result, stringify: () => body });
    },
    onResponse({ response, serverContext }) {
      const slot = serverContext?.answerSlot;
      const contentType = response.headers.get('content-type');
      // One JSON document only: an event stream or a multipart answer is framed around it.
      if (slot?.body === undefined || response.status !== 200 || !contentType || !JSON_ANSWER.test(contentType)) return;
      cache.set(slot.clock, slot.key, { body: Buffer.from(slot.body), contentType });
    },
  };
}
