/**
 * What the executor records on a ticket, in words of no language: `key` names the sentence and `params` its values (a
 * revision, a version, target names, a time). One table says each sentence in the languages Slipway writes itself:
 * English for the event's `comment` (what API readers and English channels get), Chinese for Chinese channels. The
 * console has its own words for the same keys (packages/ui/src/lib/locales).
 */
export const EVENT_SENTENCES = {
  EN: {
    STAGED_REVISION: 'revision {revision}',
    STAGED_COMMIT: 'commit {revision}',
    LIVE: '{version} is live',
    RESTORED: '{version} restored on {targets}',
    REVERTED: '{targets} back on {version}; cancelled',
    REVERTED_NOTHING: 'no target had taken the new version; cancelled',
    SCHEDULED: 'as scheduled for {at}',
    SCHEDULED_OVERRIDE: "as scheduled for {at} (through the freeze, by an admin's override)",
    SCHEDULE_NOT_STARTED: 'the deploy scheduled for {at} did not start: {why}',
  },
  ZH_CN: {
    STAGED_REVISION: '版本 r{revision}',
    STAGED_COMMIT: '提交 {revision}',
    LIVE: '{version} 已上线',
    RESTORED: '已在 {targets} 上恢复 {version}',
    REVERTED: '{targets} 已回到 {version}；工单已取消',
    REVERTED_NOTHING: '没有目标机拿到新版本；工单已取消',
    SCHEDULED: '按计划于 {at} 发布',
    SCHEDULED_OVERRIDE: '按计划于 {at} 发布（管理员越过了封版）',
    SCHEDULE_NOT_STARTED: '计划于 {at} 的发布没有开始：{why}',
  },
} as const;

export type EventMessageKey = keyof (typeof EVENT_SENTENCES)['EN'];

export interface EventMessage {
  key: EventMessageKey;
  params: Record<string, string>;
}

/** An event's sentence in one of Slipway's own languages, its values filled in. */
export function eventSentence(language: keyof typeof EVENT_SENTENCES, message: EventMessage): string {
  return EVENT_SENTENCES[language][message.key].replace(/\{(\w+)\}/g, (_m, name: string) => message.params[name] ?? '');
}
