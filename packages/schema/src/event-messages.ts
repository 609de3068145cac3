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
    PATH_NOT_FOUND: '{path} is neither in the source nor in the live version {version}: check the path',
    NOT_IN_REPOSITORY: '{path} is not in the repository',
    NOT_ON_BRANCH: '{path} is not on branch {branch}',
    TIME_LIMIT_MINUTES: 'stopped: the {job} job ran longer than its {amount}-minute time limit',
    TIME_LIMIT_SECONDS: 'stopped: the {job} job ran longer than its {amount}-second time limit',
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
    PATH_NOT_FOUND: '{path} 既不在源码中，也不在线上版本 {version} 中：请检查路径',
    NOT_IN_REPOSITORY: '{path} 不在仓库中',
    NOT_ON_BRANCH: '{path} 不在分支 {branch} 上',
    TIME_LIMIT_MINUTES: '已停止：任务运行超过了 {amount} 分钟的时限',
    TIME_LIMIT_SECONDS: '已停止：任务运行超过了 {amount} 秒的时限',
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

/**
 * A failure the executor can say in words of no language (a path that exists nowhere, a job past its time limit):
 * its message is the English sentence, and the ticket's failure event carries the key and values, so the console and
 * Chinese channels say it in their own words. Any other error is recorded as it reads (command output, mostly).
 */
export class EventFailure extends Error {
  constructor(readonly eventMessage: EventMessage) {
    super(eventSentence('EN', eventMessage));
    this.name = 'EventFailure';
  }
}

/** How a failure is recorded on its ticket's event: its key and values when it has them, else its text. */
export function failureRecord(error: Error): { comment?: string; message?: EventMessage } {
  return error instanceof EventFailure ? { message: error.eventMessage } : { comment: error.message };
}
