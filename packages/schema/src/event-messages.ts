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
    STAGED_REVISION_UNCHANGED: 'revision {revision}: this ticket changes nothing (its paths are as in {version})',
    STAGED_COMMIT_UNCHANGED: 'commit {revision}: this ticket changes nothing (its paths are as in {version})',
    LIVE: '{version} is live',
    LIVE_ON: '{version} is live on {environment}',
    ROLLED_BACK: 'rolled back from {from} to {version}',
    ROLLED_BACK_ON: '{environment} rolled back from {from} to {version}',
    RESTORED: '{version} restored on {targets}',
    REVERT_PREPARED: 'undoes #{ticket} ({version}): {count} file(s) go back to how they were before it',
    REVERT_NOT_LIVE:
      '{version} is not part of {live}, what runs now (a rollback took it off): there is nothing to revert',
    REVERT_CONFLICT:
      'released since, {tickets} changed the same paths: revert them first, or ship a fix through staging',
    REVERTED: '{targets} back on {version}; cancelled',
    REVERTED_NOTHING: 'no target had taken the new version; cancelled',
    SCHEDULED: 'as scheduled for {at}',
    SCHEDULED_OVERRIDE: "as scheduled for {at} (through the freeze, by an admin's override)",
    SCHEDULE_NOT_STARTED: 'the deploy scheduled for {at} did not start: {why}',
    SCHEDULE_FROZEN: 'the deploy scheduled for {at} did not start: deploys are frozen ({reason})',
    SCHEDULE_BAKING:
      'the deploy scheduled for {at} did not start: {tag} is still baking on {environment} ({minutes} min left)',
    SCHEDULE_NO_TARGETS: 'the deploy scheduled for {at} did not start: {environment} has no targets',
    PATH_NOT_FOUND: '{path} is neither in the source nor in the live version {version}: check the path',
    NOT_IN_REPOSITORY: '{path} is not in the repository',
    NOT_ON_BRANCH: '{path} is not on branch {branch}',
    TIME_LIMIT_MINUTES: 'stopped: the {job} job ran longer than its {amount}-minute time limit',
    TIME_LIMIT_SECONDS: 'stopped: the {job} job ran longer than its {amount}-second time limit',
    SOURCE_CERTIFICATE:
      "the source's TLS certificate could not be verified ({detail}): if its server uses a private CA, set the project's sourceCaFile to that CA's certificate (a PEM file on the executor host)",
    SOURCE_CREDENTIALS_NEEDED:
      "the repository wants a username and password: an admin sets them as the project's source credentials",
    SOURCE_CREDENTIALS_REFUSED:
      "the repository refused the project's source credentials (user {username}): an admin can correct them",
    SOURCE_HOST_KEY:
      "ssh does not know the source's host key (or it changed): put it in the project's knownHostsPath file (ssh-keyscan shows it) or in the executor user's known_hosts",
    SOURCE_KEY_REFUSED:
      "the source's ssh server refused the key: set the project's sourceSshKeyPath to a private key on the executor host that the server accepts",
  },
  ZH_CN: {
    STAGED_REVISION: '版本 r{revision}',
    STAGED_COMMIT: '提交 {revision}',
    STAGED_REVISION_UNCHANGED: '版本 r{revision}：此更新单没有改动任何文件（这些路径与 {version} 相同）',
    STAGED_COMMIT_UNCHANGED: '提交 {revision}：此更新单没有改动任何文件（这些路径与 {version} 相同）',
    LIVE: '{version} 已上线',
    LIVE_ON: '{version} 已在 {environment} 上线',
    ROLLED_BACK: '已从 {from} 回滚到 {version}',
    ROLLED_BACK_ON: '{environment} 已从 {from} 回滚到 {version}',
    RESTORED: '已在 {targets} 上恢复 {version}',
    REVERT_PREPARED: '撤销 #{ticket}（{version}）：{count} 个文件恢复到它之前的样子',
    REVERT_NOT_LIVE: '{version} 不在当前运行的 {live} 中（已被回滚）：没有可撤销的内容',
    REVERT_CONFLICT: '此后发布的 {tickets} 改动了相同的路径：请先撤销它们，或通过预发布环境发布修复',
    REVERTED: '{targets} 已回到 {version}；更新单已取消',
    REVERTED_NOTHING: '没有目标机拿到新版本；更新单已取消',
    SCHEDULED: '按计划于 {at} 发布',
    SCHEDULED_OVERRIDE: '按计划于 {at} 发布（管理员越过了封版）',
    SCHEDULE_NOT_STARTED: '计划于 {at} 的发布没有开始：{why}',
    SCHEDULE_FROZEN: '计划于 {at} 的发布没有开始：发布已冻结（{reason}）',
    SCHEDULE_BAKING: '计划于 {at} 的发布没有开始：{tag} 还在 {environment} 上观察（还剩 {minutes} 分钟）',
    SCHEDULE_NO_TARGETS: '计划于 {at} 的发布没有开始：{environment} 没有目标机',
    PATH_NOT_FOUND: '{path} 既不在源码中，也不在线上版本 {version} 中：请检查路径',
    NOT_IN_REPOSITORY: '{path} 不在仓库中',
    NOT_ON_BRANCH: '{path} 不在分支 {branch} 上',
    TIME_LIMIT_MINUTES: '已停止：任务运行超过了 {amount} 分钟的时限',
    TIME_LIMIT_SECONDS: '已停止：任务运行超过了 {amount} 秒的时限',
    SOURCE_CERTIFICATE:
      '无法验证源码服务器的 TLS 证书（{detail}）：如果服务器使用私有 CA，请把项目的 sourceCaFile 设为该 CA 的证书（执行器主机上的 PEM 文件）',
    SOURCE_CREDENTIALS_NEEDED: '仓库需要用户名和密码：请管理员设置项目的源码凭据',
    SOURCE_CREDENTIALS_REFUSED: '仓库拒绝了项目的源码凭据（用户 {username}）：请管理员更正',
    SOURCE_HOST_KEY:
      'ssh 不认识源码服务器的主机密钥（或密钥已变）：把它加入项目的 knownHostsPath 文件（ssh-keyscan 可以显示），或执行器用户的 known_hosts',
    SOURCE_KEY_REFUSED: '源码的 ssh 服务器拒绝了密钥：把项目的 sourceSshKeyPath 设为服务器接受的私钥（在执行器主机上）',
  },
} as const;

export type EventMessageKey = keyof (typeof EVENT_SENTENCES)['EN'];

export interface EventMessage {
  key: EventMessageKey;
  params: Record<string, string>;
}

/** An event's sentence in one of Slipway's own languages, its values filled in. */
export function eventSentence(language: keyof typeof EVENT_SENTENCES, message: EventMessage): string {
  return EVENT_SENTENCES[language][message.key].replace(/\{(\w+)\}/g, (_m, name: string) =>
    name === 'at' ? readableTime(message.params.at ?? '') : (message.params[name] ?? ''),
  );
}

/** A time in a sentence Slipway writes itself (chats, mails, the English comment): `2026-12-06 14:30 UTC`. */
function readableTime(value: string): string {
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(value) ? `${value.slice(0, 10)} ${value.slice(11, 16)} UTC` : value;
}

/**
 * A failure the executor can say in words of no language (a path that exists nowhere, a job past its time limit):
 * its message is the English sentence, and the ticket's failure event carries the key and values, so the console and
 * Chinese channels say it in their own words. Any other error is recorded as it reads (command output, mostly).
 */
export class EventFailure extends Error {
  constructor(
    readonly eventMessage: EventMessage,
    /** What the command that failed said (its last lines on stderr), shown below the sentence. */
    public output: string[] = [],
  ) {
    super(eventSentence('EN', eventMessage));
    this.name = 'EventFailure';
  }

  /** The sentence, then the command's own words on the lines below it. */
  get withOutput(): string {
    return [this.message, ...this.output].join('\n');
  }
}

/**
 * How a failure is recorded on its ticket's event: its key and values when it has them (the comment: the English
 * sentence with the command's output below it), else its text.
 */
export function failureRecord(error: Error): { comment?: string; message?: EventMessage } {
  return error instanceof EventFailure
    ? { message: error.eventMessage, comment: error.withOutput }
    : { comment: error.message };
}
