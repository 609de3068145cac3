import { lexicographicSortSchema } from 'graphql';
import { builder } from './builder.ts';
import './users.ts';
import './projects.ts';
import './releases.ts';
import './tickets.ts';
import './ticket-actions.ts';
import './jobs.ts';
import './webhooks.ts';
import './drift.ts';
import './environments.ts';
import './ssh.ts';
import './notifications.ts';
import './deliveries.ts';

export const schema = lexicographicSortSchema(builder.toSchema());
