import { describe, expect, it } from 'vitest';
import { destination, parseStats, rsyncArgs, sshCommand } from '../src/tools/rsync.ts';

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
    const args = rsyncArgs('/data/release', target, ssh, [], ['--delay-updates']);
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
});
