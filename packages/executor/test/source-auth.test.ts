import { describe, expect, it } from 'vitest';
import { gitAuth } from '../src/tools/git.ts';
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
});
