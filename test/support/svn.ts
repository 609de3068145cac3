import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execa } from 'execa';

/** A real svn repository (svnadmin create) with a working copy to commit to, reached by file:// URL. */
export class SvnRepo {
  private constructor(
    readonly url: string,
    readonly workingCopy: string,
  ) {}

  static async create(dir: string, files: Record<string, string | Buffer>): Promise<SvnRepo> {
    const repo = join(dir, 'svnrepo');
    await execa('svnadmin', ['create', repo]);
    // The first tree goes in with one `svn import` (fast for thousands of files), then a working copy to commit from.
    const tree = join(dir, 'svn-import');
    for (const [path, content] of Object.entries(files)) {
      await mkdir(dirname(join(tree, path)), { recursive: true });
      await writeFile(join(tree, path), content);
    }
    await execa('svn', ['import', '-q', '--non-interactive', '-m', 'initial import', tree, `file://${repo}`]);
    await rm(tree, { recursive: true, force: true });
    const wc = join(dir, 'svn-author-wc');
    await execa('svn', ['checkout', '--non-interactive', '-q', `file://${repo}`, wc]);
    return new SvnRepo(`file://${repo}`, wc);
  }

  /** Writes (string) or deletes (null) files, then commits; answers the new revision. */
  async commit(message: string, files: Record<string, string | null>): Promise<number> {
    for (const [path, content] of Object.entries(files)) {
      const full = join(this.workingCopy, path);
      if (content === null) {
        await execa('svn', ['delete', '-q', '--', path], { cwd: this.workingCopy });
        continue;
      }
      await mkdir(dirname(full), { recursive: true });
      await writeFile(full, content);
    }
    await execa('svn', ['add', '-q', '--force', '--parents', '.'], { cwd: this.workingCopy });
    const { stdout } = await execa('svn', ['commit', '-m', message, '--non-interactive'], { cwd: this.workingCopy });
    await execa('svn', ['update', '-q'], { cwd: this.workingCopy });
    return Number(/Committed revision (\d+)/.exec(stdout)?.[1] ?? 0);
  }

  async remove(): Promise<void> {
    await rm(this.workingCopy, { recursive: true, force: true });
  }
}
