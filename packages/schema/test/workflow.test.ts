import { describe, expect, it } from 'vitest';
import { pathsConflict, ticketPaths } from '../src/validation.ts';
import { type Actor, availableActions, decide, type TicketFacts } from '../src/workflow.ts';

const AUTHOR = 1;
const author: Actor = { userId: AUTHOR, role: 'DEVELOPER' };
const otherDev: Actor = { userId: 2, role: 'DEVELOPER' };
const tester: Actor = { userId: 3, role: 'TESTER' };
const lead: Actor = { userId: 4, role: 'LEAD' };
const viewer: Actor = { userId: 5, role: 'VIEWER' };
const outsider: Actor = { userId: 6, role: null };
const leadAuthor: Actor = { userId: AUTHOR, role: 'LEAD' };
const strict = { allowSelfApproval: false, allowAuthorPassTest: false };

const release = (state: TicketFacts['state']): TicketFacts => ({ kind: 'RELEASE', state, authorId: AUTHOR });
const rollback = (state: TicketFacts['state']): TicketFacts => ({ kind: 'ROLLBACK', state, authorId: AUTHOR });

describe('availableActions follows the workflow table', () => {
  it.each([
    [release('PENDING_STAGING'), author, ['CANCEL']],
    [release('PENDING_STAGING'), otherDev, []],
    [release('AWAITING_TEST'), author, ['RETURN', 'CANCEL']],
    [release('AWAITING_TEST'), tester, ['RETURN', 'PASS_TEST']],
    [release('AWAITING_TEST'), otherDev, []],
    [release('AWAITING_TEST'), lead, ['RETURN', 'PASS_TEST', 'CANCEL']],
    [release('STAGING_FAILED'), author, ['RETURN', 'RESUBMIT', 'CANCEL']],
    [release('RETURNED'), author, ['RESUBMIT', 'CANCEL']],
    [release('RETURNED'), lead, ['CANCEL']],
    [release('AWAITING_APPROVAL'), author, ['RETURN', 'CANCEL']],
    [release('AWAITING_APPROVAL'), lead, ['RETURN', 'APPROVE', 'REJECT', 'CANCEL']],
    [release('AWAITING_APPROVAL'), leadAuthor, ['RETURN', 'REJECT', 'CANCEL']],
    [release('APPROVED'), author, ['DEPLOY', 'CANCEL']],
    [release('APPROVED'), tester, []],
    [release('APPROVED'), lead, ['DEPLOY', 'CANCEL']],
    [release('DEPLOYING'), author, []],
    [release('DEPLOY_FAILED'), author, ['RETRY_DEPLOY', 'CANCEL']],
    [release('DEPLOY_FAILED'), tester, []],
    [release('DEPLOYED'), lead, []],
    [release('REJECTED'), author, []],
    [release('CANCELLED'), lead, []],
    [release('AWAITING_TEST'), viewer, []],
    [release('AWAITING_APPROVAL'), outsider, []],
    [rollback('AWAITING_APPROVAL'), author, ['CANCEL']],
    [rollback('AWAITING_APPROVAL'), lead, ['APPROVE', 'REJECT', 'CANCEL']],
    [rollback('APPROVED'), author, ['DEPLOY', 'CANCEL']],
  ] as const)('%o for %o: %o', (ticket, actor, actions) => {
    expect(availableActions(ticket, actor, strict).sort()).toEqual([...actions].sort());
  });

  it('lets a lead approve their own ticket when the project allows it', () => {
    expect(
      availableActions(release('AWAITING_APPROVAL'), leadAuthor, { ...strict, allowSelfApproval: true }),
    ).toContain('APPROVE');
  });

  it('lets an author pass the test of their own ticket only when the project allows it', () => {
    expect(availableActions(release('AWAITING_TEST'), author, { ...strict, allowAuthorPassTest: true })).toContain(
      'PASS_TEST',
    );
    expect(availableActions(release('AWAITING_TEST'), leadAuthor, strict)).not.toContain('PASS_TEST');
    expect(() => decide('PASS_TEST', release('AWAITING_TEST'), author, strict)).toThrow(
      expect.objectContaining({ code: 'FORBIDDEN', message: expect.stringMatching(/your own ticket/) }),
    );
  });

  it('cancels a failed deploy through a job that brings the targets back first', () => {
    expect(decide('CANCEL', release('DEPLOY_FAILED'), lead, strict)).toMatchObject({
      to: 'DEPLOY_FAILED',
      enqueues: 'REVERT',
    });
  });

  it('takes rights away from an author who is no longer a member', () => {
    expect(availableActions(release('APPROVED'), { userId: AUTHOR, role: null }, strict)).toEqual([]);
  });
});

describe('decide', () => {
  it('answers the transition and the job it enqueues', () => {
    expect(decide('DEPLOY', release('APPROVED'), author, strict)).toMatchObject({
      to: 'DEPLOYING',
      enqueues: 'DEPLOY',
    });
    expect(decide('DEPLOY', rollback('APPROVED'), author, strict)).toMatchObject({ enqueues: 'ROLLBACK' });
    expect(decide('SUBMIT', { kind: 'RELEASE', state: null, authorId: null }, otherDev, strict)).toMatchObject({
      to: 'PENDING_STAGING',
      enqueues: 'STAGE',
    });
  });

  it('refuses a wrong state with INVALID_TRANSITION and a missing right with FORBIDDEN', () => {
    expect(() => decide('APPROVE', release('AWAITING_TEST'), lead, strict)).toThrow(
      expect.objectContaining({ code: 'INVALID_TRANSITION' }),
    );
    expect(() => decide('APPROVE', release('AWAITING_APPROVAL'), tester, strict)).toThrow(
      expect.objectContaining({ code: 'FORBIDDEN' }),
    );
    expect(() => decide('APPROVE', release('AWAITING_APPROVAL'), leadAuthor, strict)).toThrow(
      /cannot approve your own ticket/,
    );
    expect(() => decide('SUBMIT', { kind: 'RELEASE', state: null, authorId: null }, viewer, strict)).toThrow(
      expect.objectContaining({ code: 'FORBIDDEN' }),
    );
    expect(() => decide('CANCEL', release('DEPLOYING'), author, strict)).toThrow(
      expect.objectContaining({ code: 'INVALID_TRANSITION' }),
    );
  });
});

describe('ticket paths', () => {
  it('normalises, removes duplicates and sorts', () => {
    expect(ticketPaths.parse(['www/b/', './www/a', 'www//c', 'www/a'])).toEqual(['www/a', 'www/b', 'www/c']);
  });
  it.each([
    ['/etc/passwd'],
    ['../x'],
    ['www/../../x'],
    ['-rf'],
    ['./-rf'],
    ['www/\u0000'],
    ['www/\nx'],
    ['.'],
    ['www/.svn/entries'],
    ['.git'],
    [''],
  ])('refuses %j', (path) => {
    expect(ticketPaths.safeParse([path]).success).toBe(false);
  });
  it('refuses an empty list', () => expect(ticketPaths.safeParse([]).success).toBe(false));
  it.each([
    ['www', 'www', true],
    ['www', 'www/a.php', true],
    ['www/a.php', 'www', true],
    ['www', 'www2', false],
    ['www/a', 'www/ab', false],
  ])('%s and %s conflict: %s', (a, b, expected) => expect(pathsConflict(a, b)).toBe(expected));
});
