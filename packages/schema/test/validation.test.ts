import { describe, expect, it } from 'vitest';
import {
  absolutePath,
  branchName,
  gitUrl,
  hostName,
  httpUrl,
  parseInput,
  rsyncExclude,
  svnUrl,
} from '../src/validation.ts';

const accepts = (schema: { safeParse(v: unknown): { success: boolean } }, value: unknown) =>
  schema.safeParse(value).success;

describe('absolutePath', () => {
  it.each([
    ['/srv/site', '/srv/site'],
    ['/srv/site/', '/srv/site'],
    ['/srv//site/./www', '/srv/site/www'],
  ])('normalises %s to %s', (input, output) => {
    expect(absolutePath.parse(input)).toBe(output);
  });
  it.each(['srv/site', './site', '/srv/../etc', '/', '//', '/srv/\u0000x', '/srv/a\nb', '', `/${'a'.repeat(5000)}`])(
    'refuses %j',
    (input) => {
      expect(accepts(absolutePath, input)).toBe(false);
    },
  );
});

describe('source URLs', () => {
  it.each(['svn://h/r/trunk', 'svn+ssh://u@h/r', 'https://svn.example.com/r', 'file:///srv/svn/r'])(
    'svn takes %s',
    (u) => expect(accepts(svnUrl, u)).toBe(true),
  );
  it.each(['--config-dir=/x', 'h/r', 'ftp://h/r', 'https://', 'svn://h/r\n'])('svn refuses %j', (u) =>
    expect(accepts(svnUrl, u)).toBe(false),
  );
  it.each([
    'https://git.example.com/a.git',
    'git@github.com:org/repo.git',
    'ssh://git@h:22/r.git',
    'file:///srv/git/r',
  ])('git takes %s', (u) => expect(accepts(gitUrl, u)).toBe(true));
  it.each(['--upload-pack=touch /tmp/x', '-oProxyCommand=x', 'ext::sh -c touch', 'git@h:repo;rm'])(
    'git refuses %j',
    (u) => expect(accepts(gitUrl, u)).toBe(false),
  );
  it.each(['javascript:alert(1)', 'data:text/html,x', 'ftp://h'])('http refuses %j', (u) =>
    expect(accepts(httpUrl, u)).toBe(false),
  );
});

describe('branch, host and exclude', () => {
  it.each(['main', 'release/2026.11', 'feature-x_1'])('branch takes %s', (b) =>
    expect(accepts(branchName, b)).toBe(true),
  );
  it.each(['-f', 'a..b', 'a b', 'x.lock', '/x', 'x/', 'a;b', 'a~1'])('branch refuses %j', (b) =>
    expect(accepts(branchName, b)).toBe(false),
  );
  it.each(['web1', 'web-1.example.com', '127.0.0.1', '::1', '[::1]'])('host takes %s', (h) =>
    expect(accepts(hostName, h)).toBe(true),
  );
  it.each(['-oProxyCommand=x', 'web 1', 'web1;id', 'a$(id)', ''])('host refuses %j', (h) =>
    expect(accepts(hostName, h)).toBe(false),
  );
  it.each(['--delete', '- secret', '+ keep', ''])('exclude refuses %j', (e) =>
    expect(accepts(rsyncExclude, e)).toBe(false),
  );
  it.each(['*.log', 'cache/', '/uploads'])('exclude takes %s', (e) => expect(accepts(rsyncExclude, e)).toBe(true));
});

describe('parseInput', () => {
  it('names the field of the first problem', () => {
    expect(() => parseInput(absolutePath, 'rel', 'input.stagingPath')).toThrow(
      /^input\.stagingPath: must be an absolute path$/,
    );
  });
});
