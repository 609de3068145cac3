import { describe, expect, it } from 'vitest';
import { gitAuth } from '../src/tools/git.ts';
import { sourceSshEnv } from '../src/tools/ssh.ts';
import { svnAuth } from '../src/tools/svn.ts';

const auth = { username: 'alice', secret: 'never-on-a-command-line' };

describe('signing in to the source', () => {
  it('gives svn the password on stdin, never as an argument, and keeps nothing on disk', () => {
    const { args, input } = svnAuth({ allowSvnExternals: false, auth });
    expect(args).toEqual(['--username', 'alice', '--password-from-stdin', '--no-auth-cache']);
    expect(args.join(' ')).not.toContain(auth.secret);
    expect(input).toBe(`${auth.secret}\n`);
    expect(svnAuth({ allowSvnExternals: false })).toEqual({ args: [] });
  });

  it('gives git the token through a credential helper reading the environment, never in argv nor in the URL', () => {
    const { args, env } = gitAuth(auth);
    expect(args.join(' ')).not.toContain(auth.secret);
    expect(args).toContain('credential.helper=');
    expect(env).toEqual({ SLIPWAY_SOURCE_USERNAME: 'alice', SLIPWAY_SOURCE_SECRET: auth.secret });
    expect(gitAuth(null)).toEqual({ args: [] });
  });

  it('reaches an ssh source with the project’s key and known hosts, never asking; svn gets the URL’s port itself', () => {
    const keys = { sourceSshKeyPath: '/keys/source', knownHostsPath: '/keys/known_hosts' };
    const svn = sourceSshEnv('svn+ssh://deploy@svn.example.com:2222/repo/trunk', 'SVN', keys);
    expect(svn.SVN_SSH).toBe(
      'ssh -o BatchMode=yes -o ConnectTimeout=10 -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/keys/known_hosts -o IdentitiesOnly=yes -i /keys/source -p 2222 -o HostName=svn.example.com',
    );
    expect(sourceSshEnv('svn+ssh://svn.example.com/repo', 'SVN', keys).SVN_SSH).not.toContain('-p');
    expect(sourceSshEnv('https://svn.example.com/repo', 'SVN', keys)).toEqual({});
    expect(sourceSshEnv('git@git.example.com:team/site.git', 'GIT', keys).GIT_SSH_COMMAND).toContain('-i /keys/source');
    expect(sourceSshEnv('ssh://git@git.example.com:2222/site.git', 'GIT', keys).GIT_SSH_COMMAND).not.toContain('-p');
    expect(sourceSshEnv('https://git.example.com/site.git', 'GIT', keys)).toEqual({});
    // git runs the command through sh: anything unusual is quoted.
    const odd = sourceSshEnv('ssh://h/r', 'GIT', { sourceSshKeyPath: '/keys/a$b', knownHostsPath: null });
    expect(odd.GIT_SSH_COMMAND).toContain("-i '/keys/a$b'");
  });
});
