import { writeFileSync } from 'node:fs';
import { printSchema } from 'graphql';
import { schema } from './graphql/schema.ts';

/** Writes the SDL that is committed as schema.graphql (the contract other tools rely on). */
export const printedSchema = () => `${printSchema(schema)}\n`;

if (process.argv[1] === new URL(import.meta.url).pathname) {
  writeFileSync(new URL('../../../schema.graphql', import.meta.url), printedSchema());
}
