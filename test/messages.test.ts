import { EVENT_SENTENCES, PROBLEMS, problemOf, SYSTEM_TRANSITIONS, TICKET_ACTIONS, ticketState } from '@slipway/schema';
import { describe, expect, it } from 'vitest';
import { en } from '../packages/ui/src/lib/locales/en.ts';
import { zh } from '../packages/ui/src/lib/locales/zh.ts';
import { ALL_STATES } from '../packages/ui/src/lib/states.ts';

describe('the console’s messages', () => {
  it('exist in both languages, with the same placeholders', () => {
    expect(Object.keys(zh).sort()).toEqual(Object.keys(en).sort());
    const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const [key, text] of Object.entries(en))
      expect(placeholders(zh[key as keyof typeof en]), key).toEqual(placeholders(text));
  });

  it('use one Chinese word for each thing, everywhere Slipway writes Chinese', () => {
    // The glossary: 更新单 (a ticket), 负责人 (a lead), 灰度 (the canary batch). Not 工单, 主管, 金丝雀.
    const chinese = [...Object.values(zh), ...Object.values(EVENT_SENTENCES.ZH_CN)];
    for (const [other, word] of [
      ['工单', '更新单'],
      ['主管', '负责人'],
      ['金丝雀', '灰度'],
    ] as const)
      expect(
        chinese.filter((text) => text.includes(other)),
        `${other} → ${word}`,
      ).toEqual([]);
  });

  it('say every rule the API can name, in both languages, with the rule’s values', () => {
    for (const [problem, template] of Object.entries(PROBLEMS)) {
      const key = `problem.${problem}` as keyof typeof en;
      expect(en[key], key).toBeTruthy();
      expect(zh[key], key).toBeTruthy();
      const values = [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      expect([...en[key].matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort(), key).toEqual(values);
    }
  });

  it('say every event the executor records, in both languages, with no value the executor does not give', () => {
    const placeholders = (text: string) => new Set([...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]));
    for (const [key, english] of Object.entries(EVENT_SENTENCES.EN)) {
      const given = placeholders(english);
      for (const text of [
        EVENT_SENTENCES.ZH_CN[key as keyof typeof EVENT_SENTENCES.EN],
        en[`eventMessage.${key}` as keyof typeof en],
        zh[`eventMessage.${key}` as keyof typeof zh],
      ]) {
        expect(text, key).toBeTruthy();
        for (const name of placeholders(text)) expect(given.has(name), `${key}: {${name}}`).toBe(true);
      }
    }
  });

  it('name every state and action of the workflow, as the schema lists them', () => {
    // The console keeps its own list of states (its bundle imports nothing from the server's packages): the same.
    expect([...ALL_STATES].sort()).toEqual([...ticketState.enumValues].sort());
    for (const state of ticketState.enumValues) {
      expect(en[`state.${state}` as keyof typeof en], state).toBeTruthy();
      expect(zh[`state.${state}` as keyof typeof zh], state).toBeTruthy();
    }
    // Every action a person or the executor takes has its line in the audit trail.
    for (const action of [...TICKET_ACTIONS, ...Object.keys(SYSTEM_TRANSITIONS)]) {
      expect(en[`event.${action}` as keyof typeof en], action).toBeTruthy();
      expect(zh[`event.${action}` as keyof typeof zh], action).toBeTruthy();
    }
  });

  it('recognise the API’s sentences, values included', () => {
    expect(problemOf('must be at least 8 characters')).toEqual({ problem: 'tooShort', params: { n: '8' } });
    expect(problemOf('must be at least 2')).toEqual({ problem: 'atLeast', params: { n: '2' } });
    expect(problemOf('overlaps /srv/a, the staging path of project shop')).toEqual({
      problem: 'stagingOverlaps',
      params: { path: '/srv/a', name: 'shop' },
    });
    expect(problemOf('something nobody wrote down')).toBeNull();
  });
});
