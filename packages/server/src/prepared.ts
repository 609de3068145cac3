import type { Db } from '@slipway/schema';

const built = new WeakMap<Db, Map<string, unknown>>();

/**
 * A statement on every request's path (who holds this token, their role, a ticket page), built by drizzle once per
 * database handle and run as a server-side prepared statement: PostgreSQL parses and plans it once per pooled
 * connection instead of on every request, and drizzle does not rebuild its SQL text each time. Values go in as
 * `sql.placeholder(...)`; `name` keys the cache (one per distinct statement text).
 */
export function prepared<Statement>(db: Db, name: string, build: (db: Db, name: string) => Statement): Statement {
  let statements = built.get(db);
  if (!statements) {
    statements = new Map();
    built.set(db, statements);
  }
  let statement = statements.get(name) as Statement | undefined;
  if (!statement) {
    statement = build(db, name);
    statements.set(name, statement);
  }
  return statement;
}
