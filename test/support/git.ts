import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execa } from 'execa';

const identity = ['-c', 'user.name=Author', '-c', 'user.email=author@example.test'];

/** A real bare git repository (file:// URL) with a clone to commit to on one branch. */
export class GitRepo {
  private constructor(
    readonly url: string,
    readonly clone: string,
    readonly branch: string,
  ) {}

  static async create(dir: string, branch: string, files: Record<string, string>): Promise<GitRepo> {
    const bare = join(dir, 'origin.git');
    await execa('git', ['init', '-q', '--bare', `--initial-branch=${branch}`, bare]);
    const clone = join(dir, 'git-author');
    await execa('git', ['clone', '-q', bare, clone]);
    await execa('git', ['-C', clone, 'checkout', '-q', '-b', branch]);
    const repo = new GitRepo(`file://${bare}`, clone, branch);
    await repo.commit('initial', files);
    return repo;
  }

  /** Writes (string) or deletes (null) files, commits and pushes; answers the commit. */
  async commit(message: string, files: Record<string, string | null>): Promise<string> {
    for (const [path, content] of Object.entries(files)) {
      const full = join(this.clone, path);
      if (content === null) await rm(full, { force: true });
      else {
        await mkdir(dirname(full), { recursive: true });
        await writeFile(full, content);
      }
    }
    await execa('git', ['-C', this.clone, 'add', '-A']);
    await execa('git', ['-C', this.clone, ...identity, 'commit', '-q', '-m', message]);
    await execa('git', ['-C', this.clone, 'push', '-q', 'origin', this.branch]);
    return (await execa('git', ['-C', this.clone, 'rev-parse', 'HEAD'])).stdout.trim();
  }
}
