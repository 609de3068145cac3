import { bigint, integer, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';
import { users } from './users.ts';

/**
 * The public half of each executor pool's own ssh key (`<data dir>/ssh/id_ed25519`), published by the executors (and by
 * a server that starts one) so admins can read the line to install in `authorized_keys`. Private keys never leave the
 * data directory.
 */
export const sshIdentities = pgTable('ssh_identities', {
  pool: text('pool').primaryKey(),
  /** The `authorized_keys` line: `ssh-ed25519 AAAA… slipway@<host>`. */
  publicKey: text('public_key').notNull(),
  fingerprint: text('fingerprint').notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

/**
 * Host keys an admin trusted on purpose (trustHostKey), after comparing the fingerprint a target showed: the executors
 * write them to Slipway's known_hosts (`<data dir>/ssh/known_hosts`). One key per host, port and type.
 */
export const knownHostKeys = pgTable(
  'known_host_keys',
  {
    host: text('host').notNull(),
    port: integer('port').notNull(),
    /** ssh's name of the key type, e.g. `ssh-ed25519`. */
    keyType: text('key_type').notNull(),
    /** The key itself (base64, as in known_hosts). */
    publicKey: text('public_key').notNull(),
    /** `SHA256:…`, as `ssh-keygen -l` prints it. */
    fingerprint: text('fingerprint').notNull(),
    trustedById: bigint('trusted_by_id', { mode: 'number' }).references(() => users.id, { onDelete: 'set null' }),
    trustedAt: timestamp('trusted_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.host, t.port, t.keyType] })],
);
