import { Client, escapeFilter, InvalidCredentialsError, NoSuchObjectError } from 'ldapts';

export interface DirectoryConfig {
  url: string;
  bindDn: string | undefined;
  bindPassword: string | undefined;
  baseDn: string;
  /** With `{login}` where the login goes (escaped). */
  userFilter: string;
  /** Members of this group (its DN) are Slipway admins. */
  adminGroup: string | undefined;
}

/** What the directory says about a person who signed in with the right password. */
export interface DirectoryPerson {
  name: string;
  email: string | null;
  isAdmin: boolean;
}

/** What went wrong with the directory, in words (ldapts says only "Code: 0x31"). */
function describe(error: unknown): string {
  if (error instanceof InvalidCredentialsError)
    return 'the service account (SLIPWAY_LDAP_BIND_DN, SLIPWAY_LDAP_BIND_PASSWORD) was refused: invalid credentials';
  if (error instanceof NoSuchObjectError) return 'SLIPWAY_LDAP_BASE_DN does not exist in the directory';
  const { code, message } = error as Error & { code?: string | number };
  return typeof code === 'string' ? `${code}: ${message}` : message.trim() || 'the directory answered an error';
}

/** The directory could not be asked (down, or the service account refused): not the person's fault. */
export class DirectoryUnavailable extends Error {}

const first = (value: unknown): string | null =>
  Array.isArray(value)
    ? (first(value[0]) ?? null)
    : typeof value === 'string' && value
      ? value
      : Buffer.isBuffer(value)
        ? value.toString('utf8')
        : null;
const all = (value: unknown): string[] =>
  (Array.isArray(value) ? value : value === undefined ? [] : [value]).map((v) =>
    Buffer.isBuffer(v) ? v.toString('utf8') : String(v),
  );
/** A value inside an LDAP filter, escaped (RFC 4515): `*`, `(`, `)`, `\\` and NUL lose their meaning. */
const filterValue = (value: string) => escapeFilter`${value}`;
const sameDn = (a: string, b: string) =>
  a.replace(/\s*,\s*/g, ',').toLowerCase() === b.replace(/\s*,\s*/g, ',').toLowerCase();

/**
 * Directory sign-in (LDAP): the service account finds the person by the filter, then a bind as them checks the
 * password. Group membership for admins: `memberOf` on the person, or `member` / `uniqueMember` on the group.
 */
export class Directory {
  constructor(private readonly config: DirectoryConfig) {}

  /** Whether admin follows membership of a directory group (else admins are made in Slipway). */
  get hasAdminGroup(): boolean {
    return Boolean(this.config.adminGroup);
  }

  private client(): Client {
    return new Client({ url: this.config.url, timeout: 5000, connectTimeout: 3000 });
  }

  /** A bind as the service account: answers why it failed, or null (checked at start, reported in one line). */
  async check(): Promise<string | null> {
    const client = this.client();
    try {
      if (this.config.bindDn) await client.bind(this.config.bindDn, this.config.bindPassword ?? '');
      await client.search(this.config.baseDn, { scope: 'base', attributes: ['dn'] });
      return null;
    } catch (error) {
      return describe(error);
    } finally {
      await client.unbind().catch(() => {});
    }
  }

  /** The person when `password` is theirs; null when it is not, or no one (or several) has that login. */
  async authenticate(login: string, password: string): Promise<DirectoryPerson | null> {
    // An empty password would be an anonymous bind, which many directories accept.
    if (!password) return null;
    const service = this.client();
    let dn: string;
    let entry: Record<string, unknown>;
    try {
      try {
        if (this.config.bindDn) await service.bind(this.config.bindDn, this.config.bindPassword ?? '');
        const { searchEntries } = await service.search(this.config.baseDn, {
          scope: 'sub',
          filter: this.config.userFilter.replaceAll('{login}', filterValue(login)),
          attributes: ['cn', 'displayName', 'mail', 'memberOf'],
          sizeLimit: 2,
        });
        if (searchEntries.length !== 1) return null;
        entry = searchEntries[0] as unknown as Record<string, unknown>;
        dn = String(entry.dn);
      } catch (error) {
        throw new DirectoryUnavailable(describe(error));
      }
      const person = this.client();
      try {
        await person.bind(dn, password);
      } catch (error) {
        if (error instanceof InvalidCredentialsError) return null;
        throw new DirectoryUnavailable(describe(error));
      } finally {
        await person.unbind().catch(() => {});
      }
      return {
        name: first(entry.displayName) ?? first(entry.cn) ?? login,
        email: first(entry.mail),
        isAdmin: await this.inAdminGroup(service, dn, all(entry.memberOf)),
      };
    } finally {
      await service.unbind().catch(() => {});
    }
  }

  private async inAdminGroup(service: Client, dn: string, memberOf: string[]): Promise<boolean> {
    const group = this.config.adminGroup;
    if (!group) return false;
    if (memberOf.some((g) => sameDn(g, group))) return true;
    try {
      const { searchEntries } = await service.search(group, {
        scope: 'base',
        filter: `(|(member=${filterValue(dn)})(uniqueMember=${filterValue(dn)}))`,
        attributes: ['dn'],
      });
      return searchEntries.length > 0;
    } catch {
      return false;
    }
  }
}
