import SchemaBuilder from '@pothos/core';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { Forbidden, type Role, Unauthenticated } from '@slipway/schema';
import type { Context } from './context.ts';

export const builder = new SchemaBuilder<{
  Context: Context;
  AuthScopes: {
    authenticated: boolean;
    admin: boolean;
    /** Holds at least `role` in the project (admins hold no role unless they are members). */
    member: { projectId: number; role: Role };
  };
  Scalars: { DateTime: { Input: Date; Output: Date | string } };
  DefaultFieldNullability: false;
}>({
  plugins: [ScopeAuthPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authorizeOnSubscribe: true,
    unauthorizedError: (_parent, context) => (context.viewer ? new Forbidden() : new Unauthenticated()),
    authScopes: (context) => ({
      authenticated: context.viewer !== null,
      admin: context.viewer?.isAdmin === true,
      member: ({ projectId, role }) => context.hasRole(projectId, role),
    }),
  },
});

builder.queryType({});
builder.mutationType({});

builder.scalarType('DateTime', {
  description: 'An ISO 8601 date and time in UTC',
  // Rows read by the shared feeds carry it as ISO text already.
  serialize: (value) => (typeof value === 'string' ? value : value.toISOString()),
  parseValue: (value) => {
    const date = new Date(String(value));
    if (Number.isNaN(date.getTime())) throw new TypeError('DateTime must be an ISO 8601 date');
    return date;
  },
});
