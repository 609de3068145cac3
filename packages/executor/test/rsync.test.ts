import { describe, expect, it } from 'vitest';
import { itemizeFirstCopy } from '../src/jobs/rollout.ts';
import {
  destination,
  ITEMIZED_LOG_LIMIT,
  itemizedChanges,
  parseStats,
  rsyncArgs,
  sshCommand,
} from '../src/tools/rsync.ts';
import { classifySshFailure } from '../src/tools/ssh.ts';
import { excludeMatcher } from '../src/transfer.ts';

const ssh = { sshKeyPath: '/etc/slipway/id_ed25519', knownHostsPath: '/etc/slipway/known_hosts' };

describe('rsync arguments', () => {
  it('syncs a local target: archive, delete, never .svn or .git, the excludes as single arguments, -- before paths', () => {
    const args = rsyncArgs('/data/release', { host: null, port: null, user: null, path: '/var/www/site' }, ssh, [
      '*.log',
      'a b',
    ]);
    expect(args).toEqual([
      '--archive',
      '--delete',
      '--modify-window=-1',
      '--itemize-changes',
      '--stats',
      '--mkpath',
      '--protect-args',
      '--exclude=.svn',
      '--exclude=.git',
      '--exclude=*.log',
      '--exclude=a b',
      '--',
      '/data/release/',
      '/var/www/site/',
    ]);
  });

  it('reaches an ssh target in batch mode with the project key and known hosts', () => {
    const target = { host: 'web1.example.com', port: 2222, user: 'deploy', path: '/var/www/site' };
    const args = rsyncArgs('/data/release', target, ssh, [], { extra: ['--delay-updates'] });
    expect(args).toContain('--delay-updates');
    expect(args.slice(-5)).toEqual([
      '--rsh',
      'ssh -o BatchMode=yes -o ConnectTimeout=10 -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/etc/slipway/known_hosts -o IdentitiesOnly=yes -i /etc/slipway/id_ed25519 -p 2222',
      '--',
      '/data/release/',
      'deploy@web1.example.com:/var/www/site/',
    ]);
  });

  it('brackets IPv6 hosts', () => {
    expect(destination({ host: '::1', port: null, user: null, path: '/srv' })).toBe('[::1]:/srv/');
    expect(
      sshCommand({ host: '::1', port: null, user: null, path: '/srv' }, { sshKeyPath: null, knownHostsPath: null }),
    ).toBe('ssh -o BatchMode=yes -o ConnectTimeout=10');
  });

  it('reads the bytes sent and files transferred from --stats', () => {
    const output = `Number of files: 5,012 (reg: 5,000, dir: 12)
Number of created files: 0
Number of regular files transferred: 1
Total file size: 51,200,000 bytes
Total bytes sent: 10,345
Total bytes received: 1,234`;
    expect(parseStats(output)).toEqual({ bytesSent: 10345, filesChanged: 1 });
  });

  it("goes through the job's connection to the target when it has one", () => {
    const target = { host: '10.0.0.7', port: null, user: 'deploy', path: '/srv' };
    const args = rsyncArgs('/data/release', target, ssh, [], { controlPath: '/tmp/slipway-ssh-1-x/j3-t9' });
    expect(args[args.indexOf('--rsh') + 1]).toMatch(
      / -o ControlMaster=no -o ControlPath=\/tmp\/slipway-ssh-1-x\/j3-t9$/,
    );
  });

  it('sends only the listed paths when given files', () => {
    const args = rsyncArgs('/data/release', { host: null, port: null, user: null, path: '/srv' }, ssh, [], {
      files: ['www/a.html'],
      extra: ['--delay-updates'],
    });
    expect(args).toEqual(expect.arrayContaining(['--files-from=-', '--from0', '--force', '--delay-updates']));
    expect(args.indexOf('--files-from=-')).toBeLessThan(args.indexOf('--'));
  });

  it('itemizes nothing when the caller has the list of changes already (a first copy to an empty path)', () => {
    const target = { host: null, port: null, user: null, path: '/srv' };
    expect(rsyncArgs('/data/release', target, ssh, [], { itemize: false })).not.toContain('--itemize-changes');
    expect(rsyncArgs('/data/release', target, ssh, [], { itemize: false })).toContain('--stats');
    expect(rsyncArgs('/data/release', target, ssh, [])).toContain('--itemize-changes');
  });

  it('itemizes a first copy only when the job log can show all of it', () => {
    const files = (n: number) => Array.from({ length: n }, (_, i) => ({ path: `www/p${i}`, change: 'ADDED' as const }));
    expect(itemizeFirstCopy(files(ITEMIZED_LOG_LIMIT.lines))).toBe(true);
    expect(itemizeFirstCopy(files(ITEMIZED_LOG_LIMIT.lines + 1))).toBe(false);
    expect(itemizeFirstCopy(files(10_000))).toBe(false);
  });
});

describe("rsync's itemized changes", () => {
  it('reads additions, content and permission changes and deletions, not time-only changes or directories', () => {
    const output = [
      'cd+++++++++ www/new-dir/',
      '>f+++++++++ www/new-dir/a.html',
      '>fcs.t..... www/changed.html',
      '.f...p..... www/chmod.sh',
      '>f..t...... www/touched.html',
      'cL+++++++++ www/link -> target',
      'cLc.t...... www/relinked -> elsewhere',
      '.d..t...... www/',
      '*deleting   www/gone.html',
      '*deleting   www/gone-dir/',
      'Number of files: 3',
    ].join('\n');
    expect(itemizedChanges(output)).toEqual([
      { path: 'www/new-dir/a.html', change: 'ADDED' },
      { path: 'www/changed.html', change: 'MODIFIED' },
      { path: 'www/chmod.sh', change: 'MODIFIED' },
      { path: 'www/link -> target', change: 'ADDED' },
      { path: 'www/relinked -> elsewhere', change: 'MODIFIED' },
      { path: 'www/gone.html', change: 'DELETED' },
    ]);
  });
});

describe("rsync's exclude rules, for the changed-files transfer", () => {
  it.each([
    ['*.log', 'www/debug.log', true],
    ['*.log', 'www/debug.log.txt', false],
    ['uploads/', 'www/uploads/a.jpg', true],
    ['uploads/', 'www/uploads', false],
    ['/config.php', 'config.php', true],
    ['/config.php', 'www/config.php', false],
    ['config.php', 'www/config.php', true],
    ['www/cache', 'www/cache/x/y.html', true],
    ['www/cache', 'other/www/cache', true],
    ['/www/cache', 'other/www/cache', false],
    ['cache/**', 'www/cache/a/b', true],
    ['p?.html', 'www/p1.html', true],
    ['p[0-4].html', 'www/p7.html', false],
    ['.env', 'www/.env', true],
  ])('%s on %s: %s', (pattern, path, excluded) => {
    expect(excludeMatcher([pattern])(path)).toBe(excluded);
  });

  it('always leaves out .svn and .git', () => {
    expect(excludeMatcher([])('www/.git/config')).toBe(true);
    expect(excludeMatcher([])('www/index.html')).toBe(false);
  });
});

describe('ssh failures', () => {
  it.each([
    ['kex_exchange_identification: read: Connection reset by peer', true, /Connection reset/],
    ['ssh: connect to host 10.0.0.1 port 22: Connection refused', true, /refused/],
    ['Connection closed by 10.0.0.1 port 22', true, /closed/],
    ['deploy@10.0.0.1: Permission denied (publickey).', false, /refused the ssh key; not retried/],
    ['Host key verification failed.', false, /host key is not the one in known_hosts/],
    ['No ED25519 host key is known for [10.0.0.1]:22 and you have requested strict checking.', false, /host key/],
  ])('%s → transient %s', (stderr, transient, message) => {
    const failure = classifySshFailure('web-1 (10.0.0.1)', stderr);
    expect(failure.transient).toBe(transient);
    expect(failure.message).toMatch(message);
    expect(failure.message).toMatch(/^web-1 \(10\.0\.0\.1\): /);
  });
});
