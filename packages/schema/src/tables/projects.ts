import { sql } from 'drizzle-orm';
import {
  type AnyPgColumn,
  bigint,
  boolean,
  check,
  customType,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import { releases } from './tickets.ts';
import { users } from './users.ts';

export const sourceType = pgEnum('source_type', ['SVN', 'GIT']);
export const deployMode = pgEnum('deploy_mode', ['IN_PLACE', 'ATOMIC']);
export const role = pgEnum('role', ['VIEWER', 'DEVELOPER', 'TESTER', 'LEAD']);

export const projects = pgTable(
  'projects',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    name: text('name').notNull(),
    sourceType: sourceType('source_type').notNull(),
    sourceUrl: text('source_url').notNull(),
    branch: text('branch'),
    stagingPath: text('staging_path').notNull(),
    stagingUrl: text('staging_url'),
    deployMode: deployMode('deploy_mode').notNull().default('IN_PLACE'),
    keepReleases: integer('keep_releases').notNull().default(5),
    excludes: text('excludes').array().notNull().default(sql`'{}'::text[]`),
    parallelism: integer('parallelism').notNull().default(10),
    batchSize: integer('batch_size').notNull().default(1),
    requiredApprovals: integer('required_approvals').notNull().default(1),
    allowSelfApproval: boolean('allow_self_approval').notNull().default(false),
    /** Whether an author may pass the test of their own ticket (else a tester must). */
    allowAuthorPassTest: boolean('allow_author_pass_test').notNull().default(false),
    sshKeyPath: text('ssh_key_path'),
    knownHostsPath: text('known_hosts_path'),
    /** The key staging signs in to an svn+ssh:// or ssh git source with (a file on the executor host). */
    sourceSshKeyPath: text('source_ssh_key_path'),
    /** A CA certificate file (PEM, on the executor host) the source's https server is verified with, besides the system's. */
    sourceCaFile: text('source_ca_file'),
    /** Paths that belong to the servers, not to releases (uploads, logs): never shipped, never deleted, kept across releases. */
    sharedPaths: text('shared_paths').array().notNull().default(sql`'{}'::text[]`),
    /** Archived projects leave the lists and take no new tickets; their history stays. */
    archivedAt: timestamp('archived_at', { withTimezone: true }),
    preDeploy: text('pre_deploy'),
    postDeploy: text('post_deploy'),
    healthCheckUrl: text('health_check_url'),
    /** A deploy or rollback job that runs longer than this is stopped and fails (its commands are killed). */
    deployTimeoutMinutes: integer('deploy_timeout_minutes').notNull().default(30),
    /** Every deploy sends every file to every target (no changed-files transfer). */
    alwaysFullSync: boolean('always_full_sync').notNull().default(false),
    /** svn:externals are fetched only when an admin allows it: they can name any repository the executor reaches. */
    allowSvnExternals: boolean('allow_svn_externals').notNull().default(false),
    /** Minutes between scheduled verifications of the targets (VERIFY jobs); 0: none. */
    verifyIntervalMinutes: integer('verify_interval_minutes').notNull().default(15),
    /** A deploy verifies each target first; a drifted one gets a full sync, never changed files on a wrong tree. */
    verifyBeforeDeploy: boolean('verify_before_deploy').notNull().default(false),
    /** rsync --bwlimit per target, in KiB/s; null: no limit. */
    bandwidthLimit: integer('bandwidth_limit'),
    /** How long the health check may take to answer 2xx after a switch. */
    healthCheckTimeoutSeconds: integer('health_check_timeout_seconds').notNull().default(30),
    /** A deploy freeze: deploys and rollbacks are refused while it lasts (no end time: until lifted). */
    frozenReason: text('frozen_reason'),
    frozenUntil: timestamp('frozen_until', { withTimezone: true }),
    frozenById: bigint('frozen_by_id', { mode: 'number' }).references(() => users.id),
    /** Which executors take this project's jobs (SLIPWAY_EXECUTOR_POOL). */
    pool: text('pool').notNull().default('default'),
    ready: boolean('ready').notNull().default(false),
    /** Why the last attempt to check out the staging copy failed (a sentence, then the command's output). */
    initError: text('init_error'),
    /** The same failure in words of no language, when Slipway names it (`{ key, params }`, see event-messages). */
    initFailure: jsonb('init_failure'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('projects_name_lower_idx').on(sql`lower(${t.name})`),
    check('projects_keep_releases_range', sql`${t.keepReleases} between 1 and 100`),
    check('projects_parallelism_range', sql`${t.parallelism} between 1 and 100`),
    check('projects_batch_size_range', sql`${t.batchSize} between 1 and 100`),
    check('projects_required_approvals_range', sql`${t.requiredApprovals} between 1 and 10`),
    check('projects_health_check_timeout_range', sql`${t.healthCheckTimeoutSeconds} between 1 and 600`),
    check('projects_deploy_timeout_range', sql`${t.deployTimeoutMinutes} between 1 and 1440`),
    check('projects_verify_interval_range', sql`${t.verifyIntervalMinutes} between 0 and 10080`),
  ],
);

/**
 * A project's environments, in order (e.g. qa, gray, production): each has its own targets, freeze, live version and,
 * where set, deploy settings (null: the project's). A release ticket deploys to the first; a release reaches each
 * later one by promotion, after it ran (and baked) on the one before.
 */
export const environments = pgTable(
  'environments',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    projectId: bigint('project_id', { mode: 'number' })
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    /** The order releases travel in: the first environment is where release tickets deploy. */
    position: integer('position').notNull().default(0),
    /** Approvals a promotion into this environment needs (0: none, it is approved when asked). */
    requiredApprovals: integer('required_approvals').notNull().default(1),
    /** How long a release must have been live on the environment before this one before it may be deployed here. */
    bakeMinutes: integer('bake_minutes').notNull().default(0),
    /** A freeze of this environment alone (freezing the project freezes every environment). */
    frozenReason: text('frozen_reason'),
    frozenUntil: timestamp('frozen_until', { withTimezone: true }),
    frozenById: bigint('frozen_by_id', { mode: 'number' }).references(() => users.id),
    /** The release live on the environment's targets (the baseline until a first deploy). */
    liveReleaseId: bigint('live_release_id', { mode: 'number' }).references((): AnyPgColumn => releases.id),
    parallelism: integer('parallelism'),
    batchSize: integer('batch_size'),
    preDeploy: text('pre_deploy'),
    postDeploy: text('post_deploy'),
    healthCheckUrl: text('health_check_url'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('environments_project_name_idx').on(t.projectId, sql`lower(${t.name})`),
    index('environments_project_idx').on(t.projectId, t.position),
    check('environments_required_approvals_range', sql`${t.requiredApprovals} between 0 and 10`),
    check('environments_bake_minutes_range', sql`${t.bakeMinutes} between 0 and 43200`),
    check('environments_parallelism_range', sql`${t.parallelism} between 1 and 100`),
    check('environments_batch_size_range', sql`${t.batchSize} between 1 and 100`),
  ],
);

export const targets = pgTable(
  'targets',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    projectId: bigint('project_id', { mode: 'number' })
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    host: text('host'),
    port: integer('port'),
    user: text('user'),
    path: text('path').notNull(),
    /** The environment the target serves (the project's only one, for a project with one). */
    environmentId: bigint('environment_id', { mode: 'number' })
      .notNull()
      .references((): AnyPgColumn => environments.id),
    /** The order deploys go through targets in (then the name): the first `batchSize` are the canary. */
    position: integer('position').notNull().default(0),
    /** The release Slipway last made live on this target. */
    releaseId: bigint('release_id', { mode: 'number' }).references((): AnyPgColumn => releases.id),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('targets_project_name_idx').on(t.projectId, t.name)],
);

export const memberships = pgTable(
  'memberships',
  {
    projectId: bigint('project_id', { mode: 'number' })
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    userId: bigint('user_id', { mode: 'number' })
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    role: role('role').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.projectId, t.userId] }), index('memberships_user_idx').on(t.userId)],
);

/** Outbound webhooks: a signed JSON POST on every ticket event of the project. */
export const webhooks = pgTable('webhooks', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  projectId: bigint('project_id', { mode: 'number' })
    .notNull()
    .references(() => projects.id, { onDelete: 'cascade' }),
  url: text('url').notNull(),
  /** HMAC-SHA256 key for the X-Slipway-Signature header; null: unsigned. */
  secret: text('secret'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

/** What staging signs in to the source with; the secret is sealed (SecretBox) and never leaves the executor. */
export const sourceCredentials = pgTable('source_credentials', {
  projectId: bigint('project_id', { mode: 'number' })
    .primaryKey()
    .references(() => projects.id, { onDelete: 'cascade' }),
  username: text('username').notNull(),
  /** `v1:` + base64(iv ‖ tag ‖ AES-256-GCM ciphertext). */
  secret: text('secret').notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

export const notificationKind = pgEnum('notification_kind', [
  'DINGTALK',
  'FEISHU',
  'WECOM',
  'SLACK',
  'WEBHOOK',
  'EMAIL',
]);
export const notificationEvent = pgEnum('notification_event', [
  'SUBMITTED',
  'STAGED',
  'STAGING_FAILED',
  'RETURNED',
  'TEST_PASSED',
  'APPROVED',
  'REJECTED',
  'DEPLOYING',
  'DEPLOYED',
  'DEPLOY_FAILED',
  'ROLLBACK_REQUESTED',
  'FREEZE_STARTED',
  'FREEZE_ENDED',
  'DRIFT_DETECTED',
  'DRIFT_RESOLVED',
  'PROMOTION_REQUESTED',
  'REPAIR_REQUESTED',
  'CANCELLED',
  'REVERT_REQUESTED',
]);
export const messageLanguage = pgEnum('message_language', ['EN', 'ZH_CN']);

/** Where a project's news goes: a chat robot, a generic signed webhook, or e-mail; each with the events it wants. */
export const notificationChannels = pgTable('notification_channels', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  projectId: bigint('project_id', { mode: 'number' })
    .notNull()
    .references(() => projects.id, { onDelete: 'cascade' }),
  kind: notificationKind('kind').notNull(),
  name: text('name').notNull(),
  /** The robot's or receiver's URL (its key is often in it); null for e-mail. */
  url: text('url'),
  /** DingTalk and Feishu signing secret, or the webhook's HMAC key. */
  secret: text('secret'),
  events: notificationEvent('events').array().notNull(),
  language: messageLanguage('language').notNull().default('EN'),
  emailTo: text('email_to').array().notNull().default(sql`'{}'::text[]`),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

/** Text compared byte by byte ("C" collation): a prefix is a range of the index, whatever the database's locale. */
const byteText = customType<{ data: string }>({ dataType: () => 'text COLLATE "C"' });

/**
 * What the staging copy holds (its files and directories, without .svn/.git), for path suggestions (stagingPaths):
 * written by the executor after a checkout (all of it) and after each staging (the ticket's paths).
 */
export const stagingPaths = pgTable(
  'staging_paths',
  {
    projectId: bigint('project_id', { mode: 'number' })
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    path: byteText('path').notNull(),
    directory: boolean('directory').notNull(),
  },
  (t) => [primaryKey({ columns: [t.projectId, t.path] })],
);

export const deliveryStatus = pgEnum('delivery_status', ['PENDING', 'DELIVERED', 'FAILED']);

/** One try at delivering: when, what the receiver answered (its HTTP status), or why it failed. */
export interface DeliveryTry {
  at: string;
  responseStatus: number | null;
  error: string | null;
  durationMs: number;
}

/**
 * One message to one channel or webhook about one event (a ticket event, a drift, a freeze): what was sent, every
 * try, and the receiver's last answer. Its id is the `X-Slipway-Delivery` header, the same on every retry and
 * redelivery. The last deliveries of each channel and webhook are kept (a bounded number, a bounded time).
 */
export const deliveries = pgTable(
  'deliveries',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    projectId: bigint('project_id', { mode: 'number' })
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    channelId: bigint('channel_id', { mode: 'number' }).references(() => notificationChannels.id, {
      onDelete: 'cascade',
    }),
    webhookId: bigint('webhook_id', { mode: 'number' }).references(() => webhooks.id, { onDelete: 'cascade' }),
    ticketId: bigint('ticket_id', { mode: 'number' }),
    event: notificationEvent('event').notNull(),
    /** What it is about: `{ eventId }` (a ticket event), `{ drift }`, `{ freeze }`. */
    about: jsonb('about').notNull(),
    status: deliveryStatus('status').notNull().default('PENDING'),
    attempts: integer('attempts').notNull().default(0),
    responseStatus: integer('response_status'),
    /** The first KiB of the receiver's last answer. */
    responseBody: text('response_body'),
    error: text('error'),
    tries: jsonb('tries').$type<DeliveryTry[]>().notNull().default(sql`'[]'::jsonb`),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('deliveries_channel_idx').on(t.channelId, t.id),
    index('deliveries_webhook_idx').on(t.webhookId, t.id),
    check('deliveries_one_receiver', sql`(${t.channelId} is null) <> (${t.webhookId} is null)`),
  ],
);
