import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/db.ts';
import { closedToOthers, connect } from '../src/db.ts';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase({ migrate: false });
  // The driver's first statement on every new connection reads pg_type; in this database it may not.
  const owner = postgres(database.adminUrl, { max: 1, onnotice: () => {} });
  try {
    await owner`revoke select on pg_catalog.pg_type from public`;
  } finally {
    await owner.end();
  }
});

afterAll(async () => {
  await database?.drop();
});

describe('a connection whose start-up type lookup fails', () => {
  // postgres.js (porsager/postgres#1192) dropped that lookup's promise, so a connection killed or cancelled while it
  // ran (a PostgreSQL restart, a dropped database) ended the whole process with an unhandled rejection.
  it('fails or answers its own queries, and never ends the process with an unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const record = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', record);
    const { sql } = connect(database.url, { max: 2 });
    try {
      const answers = await Promise.allSettled([sql`select 1 as one`, sql`select 2 as two`, sql`select 3 as three`]);
      expect(answers).toHaveLength(3);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', record);
      await sql.end({ timeout: 5 });
    }
  });
});

describe('the embedded PostgreSQL as root', () => {
  it('names the directory on the way that the postgres user could not enter', async () => {
    const top = await mkdtemp(join(tmpdir(), 'slipway-closed-'));
    try {
      await mkdir(join(top, 'a', 'b'), { recursive: true });
      await chmod(top, 0o755);
      await chmod(join(top, 'a'), 0o700);
      expect(await closedToOthers(join(top, 'a', 'b'))).toBe(join(top, 'a'));
      await chmod(join(top, 'a'), 0o711);
      expect(await closedToOthers(join(top, 'a', 'b'))).toBeNull();
    } finally {
      await rm(top, { recursive: true, force: true });
    }
  });
});

describe("the driver's connection queues (patched)", () => {
  // postgres.js keeps a pool's connections in queues that shift() by leaving an empty slot behind and reset only when
  // a shift() empties them; the busy queue, pipelined under load, is left by remove(), so it grew for as long as the
  // load lasted and every remove() scanned every slot (7% of the server's CPU at 50 clients). The patch drops the
  // shifted slots once they are half of the array and looks for an item among the queued ones only.
  const queueFile = join(dirname(createRequire(import.meta.url).resolve('postgres')), 'queue.js');

  it('keeps first-in first-out order and remove() across the compactions', async () => {
    const { default: Queue } = (await import(queueFile)) as {
      default: () => { length: number; push<T>(x: T): T; shift<T>(): T; remove<T>(x: T): T | null };
    };
    const queue = Queue();
    const model: number[] = [];
    let next = 0;
    for (let step = 0; step < 20_000; step++) {
      // Mostly push and shift, a queue of a few items that never empties; now and then one leaves from the middle.
      if (model.length < 3 || step % 3 !== 0) {
        model.push(queue.push(next++));
      }
      if (step % 7 === 0 && model.length > 2) {
        const middle = model[1] as number;
        expect(queue.remove(middle)).toBe(middle);
        model.splice(1, 1);
      } else {
        expect(queue.shift()).toBe(model.shift());
      }
      expect(queue.length).toBe(model.length);
      // An item already shifted is not found again.
      expect(queue.remove(next - 1000)).toBe(null);
    }
  });

  it('answers every query of a small pool pipelined by many callers', async () => {
    const sql = postgres(database.adminUrl, { max: 2, onnotice: () => {} });
    try {
      const answers = await Promise.all(
        Array.from({ length: 40 }, async (_, caller) => {
          const mine: number[] = [];
          for (let i = 0; i < 100; i++) {
            const [row] = await sql`select ${caller * 1000 + i}::int as n`;
            mine.push(row?.n as number);
          }
          return mine;
        }),
      );
      answers.forEach((mine, caller) => {
        expect(mine).toEqual(Array.from({ length: 100 }, (_, i) => caller * 1000 + i));
      });
    } finally {
      await sql.end();
    }
  });
});
