import { randomBytes, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '@slipway/schema';
import { execa, type ResultPromise } from 'execa';

/** PEM files of a private CA and of a server certificate it signed for localhost and 127.0.0.1. */
export interface TestCa {
  /** The CA certificate: what a client must be given to trust the servers below. */
  caFile: string;
  certFile: string;
  keyFile: string;
}

export interface HttpsSource {
  url: string;
  stop(): Promise<void>;
}

export interface HttpsSourceOptions {
  /** With a user, every request needs HTTP basic auth as that user; without one, anyone may read. */
  user?: { name: string; password: string };
}

/**
 * A private CA and a server certificate signed by it (for localhost and 127.0.0.1), so a test can
 * show that a client refuses the server until it is given the CA file, and nothing else on the machine trusts it.
 */
export async function makeTestCa(dir: string): Promise<TestCa> {
  const home = join(dir, 'test-ca');
  await mkdir(home, { recursive: true });
  // Our own config, so the system's openssl.cnf cannot add or clash with extensions.
  const config = join(home, 'openssl.cnf');
  await writeFile(
    config,
    [
      '[req]',
      'distinguished_name = dn',
      'prompt = no',
      '[dn]',
      'CN = unused',
      '[ca_ext]',
      'basicConstraints = critical, CA:TRUE',
      'keyUsage = critical, keyCertSign, cRLSign',
      'subjectKeyIdentifier = hash',
      '[server_ext]',
      'basicConstraints = critical, CA:FALSE',
      'keyUsage = critical, digitalSignature',
      'extendedKeyUsage = serverAuth',
      // DNS:127.0.0.1 as well as IP:127.0.0.1: svn's serf (1.3.9) matches only DNS names and the CN, never an
      // IP entry, and refuses https://127.0.0.1 with "certificate issued for a different hostname" without it.
      'subjectAltName = DNS:localhost, DNS:127.0.0.1, IP:127.0.0.1',
      'subjectKeyIdentifier = hash',
      'authorityKeyIdentifier = keyid, issuer',
      '',
    ].join('\n'),
  );
  const caFile = join(home, 'ca.pem');
  const caKey = join(home, 'ca.key');
  const certFile = join(home, 'server.pem');
  const keyFile = join(home, 'server.key');
  const csr = join(home, 'server.csr');
  // P-256 keys: generated in milliseconds, and every client here (OpenSSL in svn, GnuTLS in git, Node) takes them.
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await execa('openssl', [
    'req',
    '-x509',
    '-config',
    config,
    '-extensions',
    'ca_ext',
    ...newKey,
    '-keyout',
    caKey,
    '-out',
    caFile,
    '-days',
    '3650',
    '-subj',
    '/CN=Slipway test CA',
  ]);
  await execa('openssl', [
    'req',
    '-new',
    '-config',
    config,
    ...newKey,
    '-keyout',
    keyFile,
    '-out',
    csr,
    '-subj',
    '/CN=localhost',
  ]);
  await execa('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    caFile,
    '-CAkey',
    caKey,
    '-set_serial',
    `0x${randomBytes(8).toString('hex')}`,
    '-days',
    '825',
    '-extfile',
    config,
    '-extensions',
    'server_ext',
    '-out',
    certFile,
  ]);
  return { caFile, certFile, keyFile };
}

/**
 * Apache with mod_dav_svn serving `repoPath` read-only over TLS at https://127.0.0.1:<port>/svn, a process of
 * its own (own ServerRoot, pid file, logs and mutexes in `dir`; the system's apache is never touched).
 *
 * Apache will not serve as root, so its workers run as www-data: the repository (and the directories above it,
 * inside the temp dir) are made readable and traversable by others. Commits over https are not set up (the
 * workers cannot write the repository); commit through the SvnRepo working copy instead.
 */
export async function startSvnHttps(
  dir: string,
  repoPath: string,
  ca: TestCa,
  options: HttpsSourceOptions = {},
): Promise<HttpsSource> {
  const home = await mkdtempIn(dir, 'svn-https');
  const run = join(home, 'run');
  await mkdir(run, { recursive: true });
  const repo = resolve(repoPath);
  await readableByWwwData(repo);
  const access = ['Require all granted'];
  const modules = ['mpm_event', 'authz_core', 'ssl', 'dav', 'dav_svn'];
  if (options.user) {
    const users = join(home, 'htpasswd');
    // -i: the password from stdin, not the command line; -B: bcrypt (at htpasswd's default, quick cost).
    await execa('htpasswd', ['-c', '-i', '-B', users, options.user.name], { input: options.user.password });
    await readableByWwwData(users);
    modules.push('authn_core', 'authn_file', 'auth_basic', 'authz_user');
    access.splice(
      0,
      1,
      'AuthType Basic',
      'AuthName "Slipway test svn"',
      'AuthBasicProvider file',
      `AuthUserFile "${users}"`,
      'Require valid-user',
    );
  }
  const port = await freePort();
  const config = join(home, 'httpd.conf');
  const errorLog = join(home, 'error.log');
  await writeFile(
    config,
    [
      `ServerRoot "${home}"`,
      'ServerName 127.0.0.1',
      `Listen 127.0.0.1:${port}`,
      `PidFile "${join(run, 'httpd.pid')}"`,
      `DefaultRuntimeDir "${run}"`,
      `Mutex file:${run} default`,
      `ErrorLog "${errorLog}"`,
      'LogLevel warn',
      'User www-data',
      'Group www-data',
      ...modules.map((m) => `LoadModule ${m}_module /usr/lib/apache2/modules/mod_${m}.so`),
      // One worker process is plenty for a test, and starts fastest.
      'StartServers 1',
      'ServerLimit 2',
      'ThreadsPerChild 16',
      'MaxRequestWorkers 32',
      'MinSpareThreads 1',
      'MaxSpareThreads 32',
      'SSLEngine on',
      `SSLCertificateFile "${ca.certFile}"`,
      `SSLCertificateKeyFile "${ca.keyFile}"`,
      '<Location /svn>',
      '  DAV svn',
      `  SVNPath "${repo}"`,
      ...access.map((line) => `  ${line}`),
      '</Location>',
      '',
    ].join('\n'),
  );
  // -DFOREGROUND: the process we hold is Apache's parent, which takes its workers down with it on SIGTERM.
  const server: ResultPromise = execa('apache2', ['-f', config, '-DFOREGROUND'], { reject: false, stdin: 'ignore' });
  try {
    await waitForPort(port, server);
  } catch (error) {
    server.kill('SIGTERM');
    const result = await server;
    const log = await readFile(errorLog, 'utf8').catch(() => '');
    throw new Error(`apache2 did not start (${(error as Error).message}): ${result.stderr}\n${log}`);
  }
  return {
    url: `https://127.0.0.1:${port}/svn`,
    stop: async () => {
      server.kill('SIGTERM');
      await server;
    },
  };
}

/**
 * A Node https server on 127.0.0.1 that runs `git http-backend` as a CGI per request, serving the bare repository
 * `bareRepoPath` (and nothing else beside it) at https://127.0.0.1:<port>/<its directory name>, e.g. /origin.git.
 * Clones and fetches work anonymously; pushes only as the basic-auth user (http-backend enables receive-pack
 * only for an authenticated REMOTE_USER).
 *
 * The server runs in the test's own process: drive git with async execa, never a sync call, or it cannot answer.
 */
export async function startGitHttps(
  dir: string,
  bareRepoPath: string,
  ca: TestCa,
  options: HttpsSourceOptions = {},
): Promise<HttpsSource> {
  const home = await mkdtempIn(dir, 'git-https');
  const repo = resolve(bareRepoPath);
  const name = basename(repo);
  const backends = new Set<ResultPromise>();
  let stopping = false;
  const server = createServer(
    { cert: await readFile(ca.certFile), key: await readFile(ca.keyFile) },
    (request, response) => {
      // A connection still in its TLS handshake when stop() began may yet send a request: start nothing for it.
      if (stopping) {
        request.socket.destroy();
        return;
      }
      serveGit(request, response, { home, root: dirname(repo), name, user: options.user, backends }).catch(
        (error: Error) => {
          if (!response.headersSent) response.writeHead(500, { 'Content-Type': 'text/plain' });
          response.end(`git test server: ${error.message}\n`);
        },
      );
    },
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `https://127.0.0.1:${port}/${name}`,
    stop: async () => {
      stopping = true;
      const closed = once(server, 'close');
      server.close();
      server.closeAllConnections();
      for (const backend of backends) backend.kill('SIGTERM');
      await closed;
      await Promise.all(backends);
    },
  };
}

interface GitServing {
  home: string;
  root: string;
  name: string;
  user: HttpsSourceOptions['user'];
  backends: Set<ResultPromise>;
}

/** One request: basic auth, then git http-backend with the CGI environment, the body on stdin, its answer back. */
async function serveGit(request: IncomingMessage, response: ServerResponse, serving: GitServing): Promise<void> {
  const url = new URL(request.url ?? '/', 'https://127.0.0.1');
  const path = decodeURIComponent(url.pathname);
  if (!path.startsWith(`/${serving.name}/`) || path.split('/').includes('..')) {
    response.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
    return;
  }
  let remoteUser: string | undefined;
  if (serving.user) {
    remoteUser = basicAuthUser(request.headers.authorization, serving.user);
    if (!remoteUser) {
      response
        .writeHead(401, { 'Content-Type': 'text/plain', 'WWW-Authenticate': 'Basic realm="Slipway test git"' })
        .end('authentication required\n');
      return;
    }
  }
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    // Neither root's ~/.gitconfig nor /etc/gitconfig should change what the server does.
    HOME: serving.home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_PROJECT_ROOT: serving.root,
    GIT_HTTP_EXPORT_ALL: '1',
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_PROTOCOL: `HTTP/${request.httpVersion}`,
    REQUEST_METHOD: request.method ?? 'GET',
    PATH_INFO: path,
    QUERY_STRING: url.search.slice(1),
    CONTENT_TYPE: request.headers['content-type'] ?? '',
    REMOTE_ADDR: request.socket.remoteAddress ?? '127.0.0.1',
  };
  // Without CONTENT_LENGTH (a chunked body) http-backend reads stdin to its end.
  if (request.headers['content-length']) env.CONTENT_LENGTH = request.headers['content-length'];
  if (remoteUser) {
    env.REMOTE_USER = remoteUser;
    env.AUTH_TYPE = 'Basic';
  }
  // Every other header as HTTP_*, as a CGI expects: http-backend needs Content-Encoding (gzip bodies) and
  // Git-Protocol (protocol v2) from them.
  for (const [header, value] of Object.entries(request.headers)) {
    if (value === undefined || ['authorization', 'content-type', 'content-length'].includes(header)) continue;
    env[`HTTP_${header.toUpperCase().replaceAll('-', '_')}`] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  const backend = execa('git', ['http-backend'], {
    env,
    extendEnv: false,
    stdin: 'pipe',
    buffer: { stdout: false },
    encoding: 'buffer',
    reject: false,
  });
  serving.backends.add(backend);
  try {
    // The backend may answer (and exit) before it has read the whole body; that is no error of ours.
    backend.stdin.on('error', () => {});
    request.pipe(backend.stdin);
    response.on('close', () => {
      if (!response.writableFinished) backend.kill('SIGTERM');
    });
    let head = Buffer.alloc(0);
    let sent = false;
    for await (const chunk of backend.stdout) {
      const data = chunk as Buffer;
      if (sent) {
        if (!response.write(data)) await once(response, 'drain');
        continue;
      }
      head = Buffer.concat([head, data]);
      const end = headerEnd(head);
      if (!end) continue;
      writeCgiHead(response, head.subarray(0, end.at).toString('latin1'));
      sent = true;
      if (end.at + end.length < head.length) response.write(head.subarray(end.at + end.length));
    }
    const result = await backend;
    if (!sent) {
      response.writeHead(500, { 'Content-Type': 'text/plain' });
      response.end(`git http-backend gave no answer (exit ${result.exitCode}): ${String(result.stderr)}\n`);
      return;
    }
    response.end();
  } finally {
    serving.backends.delete(backend);
  }
}

/** The user named by a Basic Authorization header, if its password is the one configured. */
function basicAuthUser(header: string | undefined, user: { name: string; password: string }): string | undefined {
  const match = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const name = decoded.slice(0, colon);
  const given = Buffer.from(decoded.slice(colon + 1));
  const expected = Buffer.from(user.password);
  const same = given.length === expected.length && timingSafeEqual(given, expected);
  return name === user.name && same ? name : undefined;
}

/** Where a CGI's headers end (a blank line, CRLF or LF). */
function headerEnd(head: Buffer): { at: number; length: number } | undefined {
  const crlf = head.indexOf('\r\n\r\n');
  const lf = head.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { at: crlf, length: 4 };
  if (lf >= 0) return { at: lf, length: 2 };
  return undefined;
}

/** The CGI's header lines as the HTTP response head: `Status:` is the status, the rest are headers. */
function writeCgiHead(response: ServerResponse, text: string): void {
  let status = 200;
  let reason: string | undefined;
  const headers: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') {
      const match = /^(\d{3})\s*(.*)$/.exec(value);
      status = Number(match?.[1] ?? 500);
      reason = match?.[2] || undefined;
    } else headers[name] = value;
  }
  if (reason) response.writeHead(status, reason, headers);
  else response.writeHead(status, headers);
}

/** A fresh directory of this server's own inside `dir`, so two servers in one test do not share files. */
async function mkdtempIn(dir: string, prefix: string): Promise<string> {
  const home = join(dir, `${prefix}-${randomBytes(4).toString('hex')}`);
  await mkdir(home, { recursive: true });
  return home;
}

/**
 * Apache's workers run as www-data: they must be able to read `path` (and all below it) and to walk down to it.
 * Search permission is added to the directories above it inside the temp dir (mkdtemp makes them 0700); above
 * that, a directory others cannot enter is an error here rather than a puzzling 403 or 500 later.
 */
async function readableByWwwData(path: string): Promise<void> {
  await execa('chmod', ['-R', 'a+rX', path]);
  const temp = resolve(tmpdir());
  for (let parent = dirname(path); ; parent = dirname(parent)) {
    const { mode } = await stat(parent);
    if (!(mode & 0o001)) {
      if (!`${parent}${sep}`.startsWith(`${temp}${sep}`)) {
        throw new Error(`www-data cannot reach ${path}: ${parent} is not searchable by others`);
      }
      await chmod(parent, (mode & 0o7777) | 0o001);
    }
    if (parent === dirname(parent)) return;
  }
}

async function waitForPort(port: number, server: ResultPromise): Promise<void> {
  for (let i = 0; ; i++) {
    const up = await new Promise<boolean>((answer) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.end();
        answer(true);
      });
      socket.on('error', () => answer(false));
    });
    if (up) return;
    if (server.exitCode !== null) throw new Error(`exited with ${server.exitCode}`);
    if (i > 400) throw new Error(`port ${port} not open after 10 s`);
    await sleep(25);
  }
}
