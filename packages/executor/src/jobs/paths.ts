import { resolve, sep } from 'node:path';
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
