import { lstat } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { parseInput, ticketPaths } from '@slipway/schema';

/** Rule 2 again on this side: the paths are checked before any command sees them, and must stay inside `root`. */
export function checkedPaths(root: string, paths: string[]): string[] {
  const checked = parseInput(ticketPaths, paths, 'paths');
  for (const path of checked) {
    const full = resolve(root, path);
    if (!full.startsWith(root + sep)) throw new Error(`${path} is outside ${root}`);
  }
  return checked;
}

/**
 * A ticket path must not pass through a symbolic link: `www/link/config.php` with `www/link` → another project's
 * directory would read (and ship) files from outside the working copy. The path itself may be a link (it is shipped
 * as a link, never followed).
 */
export async function assertNoLinkedParents(root: string, paths: string[]): Promise<void> {
  for (const path of paths) {
    const parts = path.split('/');
    for (let depth = 1; depth < parts.length; depth++) {
      const prefix = parts.slice(0, depth).join('/');
      const stat = await lstat(join(root, prefix)).catch(() => null);
      if (!stat) break;
      if (stat.isSymbolicLink()) throw new Error(`${path} passes through the symbolic link ${prefix}`);
    }
  }
}
