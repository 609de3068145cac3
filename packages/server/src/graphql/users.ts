import { randomBytes } from 'node:crypto';
import {
  apiTokens,
  BadUserInput,
  emailAddress,
  identifierName,
  NotFound,
  parseInput,
  sessions,
  textLine,
  Unauthenticated,
  users,
} from '@slipway/schema';
import { serialize } from 'cookie';
import { and, asc, eq, isNull, ne, sql } from 'drizzle-orm';
import { z } from 'zod';
import { type Directory, DirectoryUnavailable } from '../auth/directory.ts';
import { decoyHash, hashPassword, verifyPassword } from '../auth/passwords.ts';
import { releaseLoginAttempt, reserveLoginAttempt } from '../auth/rate-limit.ts';
import {
  createApiToken,
  createSession,
  endAllAccess,
  endSession,
  SESSION_COOKIE,
  SESSION_DAYS,
} from '../auth/tokens.ts';
import { builder } from './builder.ts';
import type { Context } from './context.ts';
import { parseId } from './ids.ts';

export type UserRow = typeof users.$inferSelect;
export type ApiTokenRow = typeof apiTokens.$inferSelect;

export const UserRef = builder.objectRef<UserRow>('User');
export const ApiTokenRef = builder.objectRef<ApiTokenRow>('ApiToken');

/** The user themself, or an admin: who may read a user's contact details and memberships. */
export const isSelfOrAdmin = (user: UserRow, context: Context) =>
  context.viewer !== null && (context.viewer.isAdmin || context.viewer.id === user.id);

UserRef.implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    login: t.exposeString('login'),
    name: t.exposeString('name'),
    isAdmin: t.exposeBoolean('isAdmin'),
    directory: t.exposeBoolean('directory', {
      description: 'Signs in with the company directory, which keeps its name and e-mail',
    }),
    email: t.exposeString('email', {
      nullable: true,
      description: 'Where mail for the user goes (the user themself and admins only)',
      authScopes: (user, _args, context) => isSelfOrAdmin(user, context),
    }),
    mobile: t.exposeString('mobile', {
      nullable: true,
      description:
        'For chat mentions (DingTalk, WeCom) when a ticket waits for the user (the user themself and admins only)',
      authScopes: (user, _args, context) => isSelfOrAdmin(user, context),
    }),
    disabled: t.exposeBoolean('disabled', {
      description: 'A disabled user cannot sign in; their sessions, tokens and subscriptions ended when it was set',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    mustChangePassword: t.exposeBoolean('mustChangePassword', {
      nullable: true,
      description:
        'The password was made for the user (the first admin’s, generated at the first start; one an admin set or reset): ' +
        'the console asks for a new one until changePassword (the user themself and admins only)',
      authScopes: (user, _args, context) => isSelfOrAdmin(user, context),
    }),
    apiTokens: t.field({
      type: [ApiTokenRef],
      description: "The user's API tokens that are not revoked (the user themself only)",
      authScopes: (user, _args, context) => context.viewer?.id === user.id,
      resolve: (user, _args, { db }) =>
        db
          .select()
          .from(apiTokens)
          .where(and(eq(apiTokens.userId, user.id), isNull(apiTokens.revokedAt)))
          .orderBy(asc(apiTokens.id)),
    }),
  }),
});

ApiTokenRef.implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    lastUsedAt: t.expose('lastUsedAt', { type: 'DateTime', nullable: true }),
  }),
});

export async function loadUser(context: Context, id: number): Promise<UserRow> {
  const row = await context.loaders.user.load(id);
  if (!row) throw new NotFound('user', id);
  return row;
}

builder.queryFields((t) => ({
  me: t.field({
    type: UserRef,
    nullable: true,
    description: 'The signed-in user, or null when the request carries no valid session or token',
    resolve: (_root, _args, context) => (context.viewer ? loadUser(context, context.viewer.id) : null),
  }),
  users: t.field({
    type: [UserRef],
    authScopes: { admin: true },
    resolve: (_root, _args, { db }) => db.select().from(users).orderBy(asc(users.login)),
  }),
}));

const LoginPayload = builder.objectRef<{ token: string; user: UserRow }>('LoginPayload').implement({
  fields: (t) => ({
    token: t.exposeString('token', {
      description: 'A session token for `Authorization: Bearer`; also set as a cookie',
    }),
    user: t.field({ type: UserRef, resolve: (p) => p.user }),
  }),
});

const CreatedApiToken = builder.objectRef<{ token: string; apiToken: ApiTokenRow }>('CreatedApiToken').implement({
  fields: (t) => ({
    token: t.exposeString('token', { description: 'The secret; shown only this once' }),
    apiToken: t.field({ type: ApiTokenRef, resolve: (p) => p.apiToken }),
  }),
});

const CreateUserInput = builder.inputType('CreateUserInput', {
  fields: (t) => ({
    login: t.string({ required: true }),
    name: t.string({ required: true }),
    password: t.string({ required: true }),
    isAdmin: t.boolean({ required: false, defaultValue: false }),
  }),
});

const UpdateMeInput = builder.inputType('UpdateMeInput', {
  fields: (t) => ({
    name: t.string({ description: 'Left as it is when absent' }),
    email: t.string({ description: 'Left as it is when absent; an empty string clears it' }),
    mobile: t.string({ description: 'Left as it is when absent; an empty string clears it' }),
  }),
});

/** An empty string clears an optional field. */
const orCleared = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (value === '' ? null : value), schema.nullish());
const updateMeInput = z.object({
  name: textLine(200).nullish(),
  email: orCleared(emailAddress),
  mobile: orCleared(
    z
      .string()
      .regex(/^\+?[0-9][0-9 -]{4,22}$/, 'must be a phone number: digits, an optional leading "+", spaces or "-"')
      .transform((v) => v.replace(/[ -]/g, '')),
  ),
});

const login = z
  .string()
  .min(1, 'must not be empty')
  .max(64, 'must be at most 64 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'may contain letters, digits, ".", "_" and "-"');
const password = z.string().min(8, 'must be at least 8 characters').max(1024, 'must be at most 1024 characters');
const createUserInput = z.object({
  login,
  name: textLine(200),
  password,
  isAdmin: z
    .boolean()
    .nullish()
    .transform((v) => v ?? false),
});

function sessionCookie(context: Context, value: string, maxAgeSeconds: number): string {
  return serialize(SESSION_COOKIE, value, {
    httpOnly: true,
    sameSite: 'lax',
    path: '/',
    maxAge: maxAgeSeconds,
    secure: context.secureCookies,
  });
}

/**
 * A sign-in checked by the directory: the account is made at the first one (name and mail from the directory) and
 * kept up to date after; with an admin group configured, admin follows membership.
 */
async function directorySignIn(
  context: Context,
  directory: Directory,
  login: string,
  password: string,
  existing: UserRow | undefined,
): Promise<UserRow | undefined> {
  let person: Awaited<ReturnType<Directory['authenticate']>>;
  try {
    person = await directory.authenticate(login, password);
  } catch (error) {
    if (!(error instanceof DirectoryUnavailable)) throw error;
    context.logger.warn({ err: error }, 'the directory could not be asked');
    throw new Unauthenticated('the company directory cannot be reached; local accounts can still sign in', {
      reason: 'DIRECTORY_UNAVAILABLE',
    });
  }
  if (!person) return undefined;
  const fields = {
    name: person.name.slice(0, 200),
    email: person.email,
    ...(directory.hasAdminGroup ? { isAdmin: person.isAdmin } : {}),
  };
  if (existing) {
    const [updated] = await context.db.update(users).set(fields).where(eq(users.id, existing.id)).returning();
    return updated;
  }
  const [created] = await context.db
    .insert(users)
    .values({ login, ...fields, directory: true, passwordHash: await hashPassword(randomBytes(32).toString('hex')) })
    .onConflictDoNothing()
    .returning();
  return created ?? (await context.db.select().from(users).where(sql`lower(${users.login}) = lower(${login})`))[0];
}

builder.mutationFields((t) => ({
  login: t.field({
    type: LoginPayload,
    description:
      'Signs in; answers a session token and sets it as an HttpOnly cookie. Failed attempts are rate limited (RATE_LIMITED).',
    args: { login: t.arg.string({ required: true }), password: t.arg.string({ required: true }) },
    resolve: async (_root, args, context) => {
      const { db } = context;
      if (args.login.length > 64) throw new BadUserInput('login', 'must be at most 64 characters');
      if (args.password.length > 1024) throw new BadUserInput('password', 'must be at most 1024 characters');
      await reserveLoginAttempt(db, args.login, context.clientAddress);
      const [local] = await db.select().from(users).where(sql`lower(${users.login}) = lower(${args.login})`);
      // Local accounts sign in with their own password, whatever the directory says (the first admin always can);
      // the others ask the directory, when there is one.
      const user =
        context.directory && (!local || local.directory)
          ? await directorySignIn(context, context.directory, args.login, args.password, local)
          : (await verifyPassword(local?.passwordHash ?? (await decoyHash()), args.password))
            ? local
            : undefined;
      if (!user) throw new Unauthenticated('wrong login or password');
      if (user.disabled) throw new Unauthenticated('this account is disabled', { reason: 'DISABLED' });
      await releaseLoginAttempt(db, args.login, context.clientAddress);
      const session = await createSession(db, user.id);
      context.responseCookies.push(sessionCookie(context, session.token, SESSION_DAYS * 86_400));
      return { token: session.token, user };
    },
  }),
  logout: t.boolean({
    description: 'Ends the current session and clears the cookie',
    resolve: async (_root, _args, context) => {
      if (context.viewer?.sessionId) await endSession(context.db, context.viewer.sessionId);
      context.responseCookies.push(sessionCookie(context, '', 0));
      return true;
    },
  }),
  createApiToken: t.field({
    type: CreatedApiToken,
    authScopes: { authenticated: true },
    args: { name: t.arg.string({ required: true }) },
    resolve: (_root, args, context) => {
      const name = parseInput(identifierName, args.name, 'name');
      return createApiToken(context.db, (context.viewer as { id: number }).id, name);
    },
  }),
  revokeApiToken: t.boolean({
    authScopes: { authenticated: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, context) => {
      const id = parseId(args.id, 'id');
      const revoked = await context.db
        .update(apiTokens)
        .set({ revokedAt: sql`now()` })
        .where(and(eq(apiTokens.id, id), eq(apiTokens.userId, context.viewer?.id ?? 0), isNull(apiTokens.revokedAt)))
        .returning({ id: apiTokens.id });
      if (revoked.length === 0) throw new NotFound('API token', id);
      return true;
    },
  }),
  updateMe: t.field({
    type: UserRef,
    description:
      'Changes the signed-in user’s name, e-mail and mobile (mail and chat mentions use them); a directory account’s name and e-mail come from the directory',
    authScopes: { authenticated: true },
    args: { input: t.arg({ type: UpdateMeInput, required: true }) },
    resolve: async (_root, args, context) => {
      const input = parseInput(updateMeInput, args.input, 'input');
      const me = await loadUser(context, (context.viewer as { id: number }).id);
      const changes: Partial<UserRow> = {};
      if (input.name != null) changes.name = input.name;
      if (input.email !== undefined) changes.email = input.email;
      if (input.mobile !== undefined) changes.mobile = input.mobile;
      if (me.directory && ((changes.name ?? me.name) !== me.name || (changes.email ?? me.email) !== me.email))
        throw new BadUserInput(
          changes.email !== undefined && changes.email !== me.email ? 'input.email' : 'input.name',
          'comes from the company directory: change it there',
        );
      if (Object.keys(changes).length === 0) return me;
      const [row] = await context.db.update(users).set(changes).where(eq(users.id, me.id)).returning();
      if (!row) throw new NotFound('user', me.id);
      context.loaders.user.clear(me.id).prime(me.id, row);
      return row;
    },
  }),
  changePassword: t.boolean({
    description:
      'Changes the signed-in user’s password (the current one is checked, attempts are rate limited); their other browser sessions end',
    authScopes: { authenticated: true },
    args: {
      currentPassword: t.arg.string({ required: true }),
      newPassword: t.arg.string({ required: true }),
    },
    resolve: async (_root, args, context) => {
      const me = await loadUser(context, (context.viewer as { id: number }).id);
      if (me.directory) throw new BadUserInput('currentPassword', 'is the company directory’s: change it there');
      const newPassword = parseInput(password, args.newPassword, 'newPassword');
      if (args.currentPassword.length > 1024) throw new BadUserInput('currentPassword', 'is wrong');
      await reserveLoginAttempt(context.db, me.login, context.clientAddress);
      if (!(await verifyPassword(me.passwordHash, args.currentPassword)))
        throw new BadUserInput('currentPassword', 'is wrong');
      await releaseLoginAttempt(context.db, me.login, context.clientAddress);
      const passwordHash = await hashPassword(newPassword);
      await context.db.transaction(async (tx) => {
        await tx.update(users).set({ passwordHash, mustChangePassword: false }).where(eq(users.id, me.id));
        await tx
          .delete(sessions)
          .where(
            and(
              eq(sessions.userId, me.id),
              ...(context.viewer?.sessionId ? [ne(sessions.id, context.viewer.sessionId)] : []),
            ),
          );
      });
      context.loaders.user.clear(me.id);
      return true;
    },
  }),
  resetPassword: t.field({
    type: UserRef,
    description:
      'Gives a user a new password (admins only; not a directory account’s); the user’s browser sessions end at once',
    authScopes: { admin: true },
    args: { userId: t.arg.id({ required: true }), newPassword: t.arg.string({ required: true }) },
    resolve: async (_root, args, context) => {
      const userId = parseId(args.userId, 'userId');
      const newPassword = parseInput(password, args.newPassword, 'newPassword');
      const user = await loadUser(context, userId);
      if (user.directory) throw new BadUserInput('userId', 'signs in with the company directory: reset it there');
      const passwordHash = await hashPassword(newPassword);
      return context.db.transaction(async (tx) => {
        const [row] = await tx
          .update(users)
          .set({ passwordHash, mustChangePassword: true })
          .where(eq(users.id, userId))
          .returning();
        if (!row) throw new NotFound('user', userId);
        await tx.delete(sessions).where(eq(sessions.userId, userId));
        context.loaders.user.clear(userId).prime(userId, row);
        return row;
      });
    },
  }),
  setUserDisabled: t.field({
    type: UserRef,
    description:
      'Disables a user (their sessions, API tokens and open subscriptions end at once) or enables them again; admins only, and not on themselves',
    authScopes: { admin: true },
    args: { userId: t.arg.id({ required: true }), disabled: t.arg.boolean({ required: true }) },
    resolve: async (_root, args, context) => {
      const userId = parseId(args.userId, 'userId');
      if (userId === context.viewer?.id) throw new BadUserInput('userId', 'you cannot disable yourself');
      return context.db.transaction(async (tx) => {
        const [row] = await tx.update(users).set({ disabled: args.disabled }).where(eq(users.id, userId)).returning();
        if (!row) throw new NotFound('user', userId);
        if (args.disabled) await endAllAccess(tx, userId);
        context.loaders.user.clear(userId).prime(userId, row);
        return row;
      });
    },
  }),
  createUser: t.field({
    type: UserRef,
    authScopes: { admin: true },
    args: { input: t.arg({ type: CreateUserInput, required: true }) },
    resolve: async (_root, args, { db }) => {
      const input = parseInput(createUserInput, args.input, 'input');
      const [taken] = await db
        .select({ id: users.id })
        .from(users)
        .where(sql`lower(${users.login}) = lower(${input.login})`);
      if (taken) throw new BadUserInput('input.login', `"${input.login}" is already taken`);
      const passwordHash = await hashPassword(input.password);
      const [row] = await db
        .insert(users)
        // The admin chose the password: the console asks the user for one of their own.
        .values({
          login: input.login,
          name: input.name,
          passwordHash,
          isAdmin: input.isAdmin,
          mustChangePassword: true,
        })
        .onConflictDoNothing()
        .returning();
      if (!row) throw new BadUserInput('input.login', `"${input.login}" is already taken`);
      return row;
    },
  }),
}));
