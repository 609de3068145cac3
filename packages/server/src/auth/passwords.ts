// OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane (argon2id is the library's default algorithm).
const options = { memoryCost: 19456, timeCost: 2, parallelism: 1 };

/** The native argon2 module, loaded at the first password: a server idling between sign-ins need not hold it. */
const argon2 = () => import('@node-rs/argon2');

export async function hashPassword(password: string): Promise<string> {
  return (await argon2()).hash(password, options);
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await (await argon2()).verify(passwordHash, password);
  } catch {
    return false;
  }
}

let decoy: Promise<string> | null = null;

/**
 * A hash to verify against when the login does not exist, so both cases take the same time. Made on first need: an
 * argon2 hash takes 19 MiB while it is made, which a server that no one signs in to need not hold.
 */
export function decoyHash(): Promise<string> {
  decoy ??= hashPassword('decoy password that never matches');
  return decoy;
}
