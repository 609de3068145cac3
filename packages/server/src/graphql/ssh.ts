import {
  BadUserInput,
  jobs,
  keyTypeName,
  knownHostKeys,
  NotFound,
  SlipwayError,
  sshIdentities,
  type TargetCheck,
  targets,
} from '@slipway/schema';
import { and, asc, desc, eq, sql } from 'drizzle-orm';
import { builder } from './builder.ts';
import { parseId } from './ids.ts';
import { loadProject, TargetRef } from './projects.ts';
import { loadUser, UserRef } from './users.ts';

// How Slipway reaches targets over ssh: its own key pair (made by the executors, the public half published here) and
// the host keys admins trusted on purpose after comparing a fingerprint a target showed (Test connection).

builder.queryField('sshPublicKey', (t) =>
  t.string({
    description:
      "Slipway's own ssh public key, as the line to add to a target's `~/.ssh/authorized_keys` (admins): used for every " +
      'target whose project names no sshKeyPath. Made at the first start in `<data dir>/ssh/id_ed25519`; executors ' +
      'of another pool (another data directory) have their own',
    authScopes: { admin: true },
    args: { pool: t.arg.string({ description: 'The executor pool (default: "default", or the only one)' }) },
    resolve: async (_root, args, { db }) => {
      const rows = await db.select().from(sshIdentities).orderBy(asc(sshIdentities.pool));
      const row = rows.find((r) => r.pool === (args.pool ?? 'default')) ?? (args.pool ? undefined : rows[0]);
      if (!row)
        throw new SlipwayError(
          'NOT_FOUND',
          args.pool
            ? `no executor of pool ${args.pool} has started yet: its key is made when one does`
            : 'no executor has started yet: Slipway’s ssh key is made when one does',
        );
      return row.publicKey;
    },
  }),
);

interface TrustedKey {
  keyType: string;
  fingerprint: string;
  trustedAt: Date;
  trustedById: number | null;
}

const TrustedHostKeyRef = builder.objectRef<TrustedKey>('TrustedHostKey').implement({
  description: "A host key an admin trusted for a target's host and port (in Slipway's known_hosts)",
  fields: (t) => ({
    type: t.string({ description: 'ED25519, ECDSA or RSA', resolve: (k) => keyTypeName(k.keyType) }),
    fingerprint: t.exposeString('fingerprint', { description: '"SHA256:…", as ssh-keygen -l prints it' }),
    trustedAt: t.expose('trustedAt', { type: 'DateTime' }),
    trustedBy: t.field({
      type: UserRef,
      nullable: true,
      resolve: (k, _args, context) => (k.trustedById ? loadUser(context, k.trustedById) : null),
    }),
  }),
});

builder.objectField(TargetRef, 'trustedHostKey', (t) =>
  t.field({
    type: TrustedHostKeyRef,
    nullable: true,
    description:
      "The host key trusted for this target's host and port in Slipway's known_hosts (null: none, or a local path)",
    resolve: async (target, _args, { db }) => {
      if (!target.host) return null;
      const [row] = await db
        .select()
        .from(knownHostKeys)
        .where(and(eq(knownHostKeys.host, target.host), eq(knownHostKeys.port, target.port ?? 22)))
        .orderBy(desc(knownHostKeys.trustedAt))
        .limit(1);
      return row ?? null;
    },
  }),
);

builder.mutationField('trustHostKey', (t) =>
  t.field({
    type: TargetRef,
    description:
      'Trusts the host key a target showed in its last connection test (testTarget), after an admin compared its ' +
      "fingerprint with the server's own: Slipway's known_hosts then holds it for the target's host and port, in place " +
      'of any key known there before. BAD_USER_INPUT when the fingerprint is not the one the target shows',
    authScopes: { admin: true },
    args: { targetId: t.arg.id({ required: true }), fingerprint: t.arg.string({ required: true }) },
    resolve: async (_root, args, context) => {
      const targetId = parseId(args.targetId, 'targetId');
      const [target] = await context.db.select().from(targets).where(eq(targets.id, targetId));
      if (!target) throw new NotFound('target', targetId);
      if (!target.host) throw new BadUserInput('targetId', 'is a local path: it has no host key');
      const project = await loadProject(context, target.projectId);
      if (project.knownHostsPath)
        throw new BadUserInput(
          'targetId',
          `the project names its own known_hosts file (${project.knownHostsPath}): add the key there, or clear the project's knownHostsPath to use Slipway's`,
        );
      const port = target.port ?? 22;
      // The target's last test, at the host and port it has now: the keys it showed then are the ones that may be trusted.
      const [tested] = await context.db
        .select({ result: jobs.result })
        .from(jobs)
        .where(
          and(
            eq(jobs.kind, 'TEST_TARGET'),
            eq(jobs.projectId, target.projectId),
            sql`${jobs.payload}->>'targetId' = ${String(targetId)}`,
            sql`${jobs.result} is not null`,
          ),
        )
        .orderBy(desc(jobs.id))
        .limit(1);
      const check = tested?.result as TargetCheck | undefined;
      const shown =
        check && check.host === target.host && (check.port ?? 22) === port ? (check.hostKeys ?? []) : undefined;
      if (!shown?.length)
        throw new BadUserInput(
          'targetId',
          `test the connection to ${target.name} first: Slipway trusts only a key the target has shown it`,
        );
      const fingerprint = args.fingerprint.trim();
      const key = shown.find((k) => k.fingerprint === fingerprint);
      if (!key)
        throw new BadUserInput(
          'fingerprint',
          `is not the host key ${target.name} shows (${check?.hostKey?.fingerprint ?? shown[0]?.fingerprint}): test the connection again and compare`,
        );
      await context.db.transaction(async (tx) => {
        await tx
          .delete(knownHostKeys)
          .where(and(eq(knownHostKeys.host, target.host as string), eq(knownHostKeys.port, port)));
        await tx.insert(knownHostKeys).values({
          host: target.host as string,
          port,
          keyType: key.keyType,
          publicKey: key.key,
          fingerprint: key.fingerprint,
          trustedById: context.viewer?.id ?? null,
        });
      });
      return target;
    },
  }),
);
