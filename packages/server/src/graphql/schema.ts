import { lexicographicSortSchema } from 'graphql';
import { builder } from './builder.ts';
import './users.ts';
import './projects.ts';

export const schema = lexicographicSortSchema(builder.toSchema());
