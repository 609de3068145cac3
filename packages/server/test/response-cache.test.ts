import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { schema } from '../src/graphql/schema.ts';
import { readsOnlyClocked } from '../src/response-cache.ts';

const clocked = (query: string, operationName?: string) => readsOnlyClocked(schema, parse(query), operationName);

describe('readsOnlyClocked', () => {
  it('keeps queries of tickets, their authors and pages, fragments and aliases included', () => {
    expect(clocked('{ __typename }')).toBe(true);
    expect(
      clocked(`query Page($p: ID!) {
        tickets(projectId: $p, first: 20) { edges { cursor node { ...T } } pageInfo { hasNextPage endCursor } }
      }
      fragment T on Ticket { id state reason who: author { login name email } ... on Ticket { paths } }`),
    ).toBe(true);
    expect(clocked('{ ticket(id: "1") { id kind state scheduledAt scheduledBy { login } } }')).toBe(true);
  });

  it('runs anything that reads another table, a mutation, a subscription or introspection', () => {
    expect(clocked('{ tickets(projectId: "1") { edges { node { id approvalsNeeded } } } }')).toBe(false);
    expect(clocked('{ tickets(projectId: "1") { edges { node { id project { name } } } } }')).toBe(false);
    expect(clocked('{ tickets(projectId: "1") { edges { node { author { memberships { role } } } } } }')).toBe(false);
    expect(clocked('{ me { login } }')).toBe(false);
    expect(clocked('{ __schema { types { name } } }')).toBe(false);
    expect(clocked('mutation { signOut }')).toBe(false);
    expect(clocked('subscription { ticketEvents(projectId: "1") { id } }')).toBe(false);
    // A document is kept whole or not at all: another operation in it counts too.
    expect(clocked('query A { __typename } mutation B { signOut }', 'A')).toBe(false);
    expect(clocked('query A { __typename } query B { me { login } }', 'A')).toBe(false);
    // An operation the document does not have is not run at all.
    expect(clocked('query A { __typename }', 'C')).toBe(false);
  });
});
