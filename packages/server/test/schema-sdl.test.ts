import { readFile } from 'node:fs/promises';
import { expect, it } from 'vitest';
import { printedSchema } from '../src/print-schema.ts';

it('schema.graphql is the printed SDL of the running schema (run `pnpm schema:print` after a change)', async () => {
  const committed = await readFile(new URL('../../../schema.graphql', import.meta.url), 'utf8');
  expect(committed).toBe(printedSchema());
});
