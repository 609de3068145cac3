import {
  createSourceEventStream,
  type ExecutionArgs,
  type ExecutionResult,
  type FieldNode,
  getOperationAST,
  Kind,
  type SelectionSetNode,
} from 'graphql';
import { shareResultData } from '../ws-transport.ts';
import { type FeedLine, type LogBatch, logBatchOf } from './log-batch.ts';

/** The LogLine fields a plain selection may name, and how each is read from a stored line. */
const LOG_LINE_FIELDS: Record<string, (line: FeedLine) => unknown> = {
  seq: (line) => line.seq,
  stream: (line) => line.stream,
  text: (line) => line.text,
  at: (line) => line.at,
  __typename: () => 'LogLine',
};

/** The LogBatch fields (the compact form), read from the batch made once for every subscriber. */
const LOG_BATCH_FIELDS: Record<string, (batch: LogBatch) => unknown> = {
  firstSeq: (batch) => batch.firstSeq,
  lastSeq: (batch) => batch.lastSeq,
  seqs: (batch) => batch.seqs,
  streams: (batch) => batch.streams,
  texts: (batch) => batch.texts,
  at: (batch) => batch.at,
  offsets: (batch) => batch.offsets,
  __typename: () => 'LogBatch',
};

/** The two log subscriptions: a list of lines, or one compact batch. */
const LOG_ROOTS = { jobLog: LOG_LINE_FIELDS, jobLogBatch: LOG_BATCH_FIELDS } as const;
type LogRoot = keyof typeof LOG_ROOTS;

/** [response key, field name] pairs of a selection of plain fields of `known`; null when it is anything else. */
function plainSelection(selection: SelectionSetNode | undefined, known: object): [string, string][] | null {
  if (!selection) return null;
  const fields: [string, string][] = [];
  for (const node of selection.selections) {
    if (node.kind !== Kind.FIELD || node.directives?.length || node.arguments?.length || node.selectionSet) return null;
    if (!(node.name.value in known)) return null;
    fields.push([node.alias?.value ?? node.name.value, node.name.value]);
  }
  return fields;
}

/**
 * The operation's only root field when it is `jobLog` or `jobLogBatch` with a plain selection (what every log viewer
 * asks for).
 */
function jobLogField(args: ExecutionArgs): { name: LogRoot; root: string; fields: [string, string][] } | null {
  const operation = getOperationAST(args.document, args.operationName);
  const [only, ...more] = operation?.selectionSet.selections ?? [];
  if (!only || more.length > 0 || only.kind !== Kind.FIELD || only.directives?.length) return null;
  const name = only.name.value;
  if (name !== 'jobLog' && name !== 'jobLogBatch') return null;
  const fields = plainSelection((only as FieldNode).selectionSet, LOG_ROOTS[name]);
  return fields ? { name, root: only.alias?.value ?? name, fields } : null;
}

/** Results already made for a batch of lines, by the shape asked for: every subscriber of the job shares them. */
const madeFor = new WeakMap<object, Map<string, ExecutionResult>>();
/** The compact form of a batch, made once whatever fields each subscriber picks from it. */
const compactOf = new WeakMap<object, LogBatch>();

function resultFor(batch: FeedLine[], name: LogRoot, root: string, fields: [string, string][]): ExecutionResult {
  const shape = `${name}|${root}|${fields.map(([key, field]) => `${key}:${field}`).join(',')}`;
  let made = madeFor.get(batch);
  if (!made) {
    made = new Map();
    madeFor.set(batch, made);
  }
  let result = made.get(shape);
  if (!result) {
    let value: unknown;
    if (name === 'jobLogBatch') {
      let compact = compactOf.get(batch);
      if (!compact) {
        compact = logBatchOf(batch);
        compactOf.set(batch, compact);
      }
      const item: Record<string, unknown> = {};
      for (const [key, field] of fields) item[key] = LOG_BATCH_FIELDS[field]?.(compact);
      value = item;
    } else {
      value = batch.map((line) => {
        const item: Record<string, unknown> = {};
        for (const [key, field] of fields) item[key] = LOG_LINE_FIELDS[field]?.(line);
        return item;
      });
    }
    const data = { [root]: value };
    shareResultData(data);
    result = { data };
    made.set(shape, result);
  }
  return result;
}

/**
 * Subscriptions, with job logs answered once per batch: a `jobLog` (or `jobLogBatch`) subscription selecting plain fields gets
 * each batch's result built once and shared by every subscriber asking for the same shape (the feed hands them all
 * the same batch), instead of one GraphQL execution per subscriber and batch. The subscription itself (arguments,
 * authorization, the feed) goes through GraphQL as usual; anything else is subscribed to by `fallback`.
 */
export async function subscribeSharingLogs(
  args: ExecutionArgs,
  fallback: (args: ExecutionArgs) => Promise<AsyncIterable<ExecutionResult> | ExecutionResult>,
): Promise<AsyncIterable<ExecutionResult> | ExecutionResult> {
  const plain = jobLogField(args);
  if (!plain) return fallback(args);
  const source = await createSourceEventStream(args);
  if (!(Symbol.asyncIterator in (source as object))) return source as ExecutionResult;
  // A plain iterator rather than a generator: `return()` reaches the feed at once, even while it waits for lines.
  const batches = (source as AsyncIterable<FeedLine[]>)[Symbol.asyncIterator]();
  const results: AsyncGenerator<ExecutionResult> = {
    [Symbol.asyncIterator]: () => results,
    next: async () => {
      const step = await batches.next();
      return step.done ? step : { done: false, value: resultFor(step.value, plain.name, plain.root, plain.fields) };
    },
    return: async (value) => {
      await batches.return?.();
      return { done: true, value };
    },
    throw: async (error) => {
      await batches.return?.();
      throw error;
    },
  };
  return results;
}
