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

/** The LogLine fields a plain selection may name, and how each is read from a stored line. */
const LOG_LINE_FIELDS: Record<string, (line: LogLineLike) => unknown> = {
  seq: (line) => line.seq,
  stream: (line) => line.stream,
  text: (line) => line.text,
  at: (line) => line.at,
  __typename: () => 'LogLine',
};

interface LogLineLike {
  seq: number;
  stream: string;
  text: string;
  /** Already ISO 8601 (the feed reads it so). */
  at: string;
}

/** [response key, field name] pairs of a selection of plain LogLine fields; null when it is anything else. */
function plainLogSelection(selection: SelectionSetNode | undefined): [string, string][] | null {
  if (!selection) return null;
  const fields: [string, string][] = [];
  for (const node of selection.selections) {
    if (node.kind !== Kind.FIELD || node.directives?.length || node.arguments?.length || node.selectionSet) return null;
    if (!(node.name.value in LOG_LINE_FIELDS)) return null;
    fields.push([node.alias?.value ?? node.name.value, node.name.value]);
  }
  return fields;
}

/** The operation's only root field when it is `jobLog` with a plain selection (what every log viewer asks for). */
function jobLogField(args: ExecutionArgs): { root: string; fields: [string, string][] } | null {
  const operation = getOperationAST(args.document, args.operationName);
  const [only, ...more] = operation?.selectionSet.selections ?? [];
  if (!only || more.length > 0 || only.kind !== Kind.FIELD || only.name.value !== 'jobLog' || only.directives?.length)
    return null;
  const fields = plainLogSelection((only as FieldNode).selectionSet);
  return fields ? { root: only.alias?.value ?? 'jobLog', fields } : null;
}

/** Results already made for a batch of lines, by the shape asked for: every subscriber of the job shares them. */
const madeFor = new WeakMap<object, Map<string, ExecutionResult>>();

function resultFor(batch: LogLineLike[], root: string, fields: [string, string][]): ExecutionResult {
  const shape = `${root}|${fields.map(([key, name]) => `${key}:${name}`).join(',')}`;
  let made = madeFor.get(batch);
  if (!made) {
    made = new Map();
    madeFor.set(batch, made);
  }
  let result = made.get(shape);
  if (!result) {
    const items = batch.map((line) => {
      const item: Record<string, unknown> = {};
      for (const [key, name] of fields) item[key] = LOG_LINE_FIELDS[name]?.(line);
      return item;
    });
    const data = { [root]: items };
    shareResultData(data);
    result = { data };
    made.set(shape, result);
  }
  return result;
}

/**
 * Subscriptions, with job logs answered once per batch: a `jobLog` subscription selecting plain LogLine fields gets
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
  const batches = (source as AsyncIterable<LogLineLike[]>)[Symbol.asyncIterator]();
  const results: AsyncGenerator<ExecutionResult> = {
    [Symbol.asyncIterator]: () => results,
    next: async () => {
      const step = await batches.next();
      return step.done ? step : { done: false, value: resultFor(step.value, plain.root, plain.fields) };
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
