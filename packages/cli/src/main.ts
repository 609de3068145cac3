/**
 * slipway — Slipway's API for CI pipelines and people at a terminal: file, pass, approve and deploy tickets, follow
 * their output live, wait for a state, roll back, promote, revert. One file needing only Node (the server serves it
 * at /cli/slipway.mjs). Exit codes: 0 done, 1 the ticket or job failed, 2 usage, 3 refused by the server (its code on
 * stderr), 4 timed out.
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { styleText } from 'node:util';
import { Command, CommanderError, Option } from 'commander';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const VERSION = '0.1.0';

/** How a command ends: the exit code and what stderr says. */
class Exit extends Error {
  constructor(
    readonly code: 0 | 1 | 2 | 3 | 4,
    message: string,
  ) {
    super(message);
  }
}
const refused = (code: string, message: string) => new Exit(3, `${code}: ${message}`);

// ---------------------------------------------------------------------------------------------------------------
// Where the server is and who is asking: SLIPWAY_URL and SLIPWAY_TOKEN, else what `slipway login` stored.

interface Settings {
  url: string;
  token: string;
}

const configFile = () => join(process.env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'slipway', 'config.json');

async function settings(): Promise<Settings> {
  const stored = await readFile(configFile(), 'utf8')
    .then((text) => JSON.parse(text) as Partial<Settings>)
    .catch(() => ({}) as Partial<Settings>);
  const url = process.env.SLIPWAY_URL || stored.url;
  const token = process.env.SLIPWAY_TOKEN || stored.token;
  if (!url || !token)
    throw new Exit(2, 'no server to talk to: set SLIPWAY_URL and SLIPWAY_TOKEN, or run `slipway login`');
  return { url: url.replace(/\/+$/, ''), token };
}

// ---------------------------------------------------------------------------------------------------------------
// The API: queries and mutations over HTTP, live data over graphql-ws.

interface GraphQLError {
  message: string;
  extensions?: { code?: string } & Record<string, unknown>;
}

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field, as each command needs
type Data = Record<string, any>;

async function gql(query: string, variables: Record<string, unknown> = {}): Promise<Data> {
  const { url, token } = await settings();
  let response: Response;
  try {
    response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        authorization: `Bearer ${token}`,
        'user-agent': `slipway-cli/${VERSION}`,
      },
      body: JSON.stringify({ query, variables }),
    });
  } catch (error) {
    const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause;
    throw refused('UNREACHABLE', `${url}: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
  }
  const text = await response.text();
  let answer: { data?: Data | null; errors?: GraphQLError[] };
  try {
    answer = JSON.parse(text);
  } catch {
    throw refused(`HTTP_${response.status}`, `${url}/graphql answered with something that is not JSON`);
  }
  const [first] = answer.errors ?? [];
  if (first) throw refused(first.extensions?.code ?? 'ERROR', first.message);
  return answer.data ?? {};
}

let socket: ReturnType<typeof createClient> | null = null;

/** Follows a subscription until `next` answers true or the server ends it. */
async function follow(query: string, variables: Record<string, unknown>, next: (data: Data) => boolean) {
  const { url, token } = await settings();
  socket ??= createClient({
    url: `${url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 5,
    // A signed-out token is not retried (the server closes with 4401).
    shouldRetry: (event) => (event as { code?: number }).code !== 4401,
  });
  try {
    for await (const result of socket.iterate({ query, variables })) {
      const [first] = (result.errors ?? []) as GraphQLError[];
      if (first) throw refused(first.extensions?.code ?? 'ERROR', first.message);
      if (next(result.data as Data)) return;
    }
  } catch (error) {
    if (error instanceof Exit) throw error;
    const closed = error as { code?: number; reason?: string };
    if (closed.code === 4401) throw refused('UNAUTHENTICATED', closed.reason || 'sign in again');
    if (Array.isArray(error)) {
      const [first] = error as GraphQLError[];
      throw refused(first?.extensions?.code ?? 'ERROR', first?.message ?? 'refused');
    }
    throw refused('UNREACHABLE', closed.reason || (error as Error).message || 'the connection closed');
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Output: plain lines in a pipe; colours and a progress line on a terminal; the API's objects with --json.

let json = false;
const tty = () => process.stdout.isTTY === true && !process.env.NO_COLOR;
const paint = (style: Parameters<typeof styleText>[0], text: string) => (tty() ? styleText(style, text) : text);

const STATE_STYLE: Record<string, Parameters<typeof styleText>[0]> = {
  DEPLOYED: 'green',
  APPROVED: 'green',
  STAGING_FAILED: 'red',
  DEPLOY_FAILED: 'red',
  REJECTED: 'red',
  CANCELLED: 'gray',
  DEPLOYING: 'yellow',
};
const state = (value: string) => paint(STATE_STYLE[value] ?? 'cyan', value);

function print(value: unknown, human: () => string | string[]) {
  if (json) {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    return;
  }
  const lines = human();
  process.stdout.write(`${(Array.isArray(lines) ? lines : [lines]).join('\n')}\n`);
}

/** A line that changes in place on a terminal (the state being waited for); nothing in a pipe or with --json. */
const progress = {
  shown: false,
  set(text: string) {
    if (json || !process.stderr.isTTY) return;
    process.stderr.write(`\r\x1b[2K${paint('dim', text)}`);
    this.shown = true;
  },
  clear() {
    if (this.shown) process.stderr.write('\r\x1b[2K');
    this.shown = false;
  },
};

const TICKET_FIELDS = `id kind state reason paths createdAt updatedAt stagedRevision availableActions
  author { login name } environment { name } release { tag } project { id name }
  approvals { approver { login } comment at }
  jobs { id kind state error } changes { path change }`;

function ticketLines(ticket: Data): string[] {
  return [
    `${paint('bold', `#${ticket.id}`)} ${state(ticket.state)}  ${ticket.reason}`,
    `  ${ticket.kind.toLowerCase()} in ${ticket.project.name} (${ticket.environment.name}) by ${ticket.author.login}${ticket.release ? `, ${ticket.release.tag}` : ''}`,
    ...(ticket.paths.length ? [`  paths: ${ticket.paths.join(' ')}`] : []),
    ...(ticket.changes?.length
      ? [`  changes: ${ticket.changes.map((c: Data) => `${c.change.toLowerCase()} ${c.path}`).join(', ')}`]
      : []),
    ...(ticket.approvals?.length
      ? [`  approved by: ${ticket.approvals.map((a: Data) => a.approver.login).join(', ')}`]
      : []),
    ...(ticket.jobs?.length
      ? [
          `  jobs: ${ticket.jobs
            .filter((j: Data) => j.kind !== 'WEBHOOK')
            .map((j: Data) => `${j.kind.toLowerCase()} ${j.id} ${j.state.toLowerCase()}`)
            .join(', ')}`,
        ]
      : []),
    ...(ticket.availableActions?.length ? [`  you may: ${ticket.availableActions.join(' ').toLowerCase()}`] : []),
  ];
}

const showTicket = (ticket: Data) => print(ticket, () => ticketLines(ticket));

async function loadTicket(id: string): Promise<Data> {
  const data = await gql(`query($id: ID!) { ticket(id: $id) { ${TICKET_FIELDS} } }`, { id });
  if (!data.ticket) throw refused('NOT_FOUND', `ticket ${id} does not exist`);
  return data.ticket;
}

async function projectNamed(name: string): Promise<Data> {
  const data = await gql('{ projects { id name environments { id name } } }');
  const project = (data.projects as Data[]).find((p) => p.name === name);
  if (!project) throw refused('NOT_FOUND', `no project named "${name}" (slipway projects lists them)`);
  return project;
}

async function releaseTagged(projectId: string, tag: string): Promise<Data> {
  const data = await gql('query($p: ID!) { releases(projectId: $p) { id tag } }', { p: projectId });
  const release = (data.releases as Data[]).find((r) => r.tag === tag);
  if (!release) throw refused('NOT_FOUND', `no release ${tag}`);
  return release;
}

function environmentNamed(project: Data, name: string): Data {
  const environment = (project.environments as Data[]).find((e) => e.name === name);
  if (!environment)
    throw refused(
      'NOT_FOUND',
      `${project.name} has no environment "${name}" (it has ${project.environments.map((e: Data) => e.name).join(', ')})`,
    );
  return environment;
}

// ---------------------------------------------------------------------------------------------------------------
// Waiting: a ticket's state, followed live (ticket events of its project), with a time limit.

/** States a ticket stops in without someone acting: waiting for another would wait forever. */
const FAILING = new Set(['STAGING_FAILED', 'DEPLOY_FAILED', 'REJECTED', 'CANCELLED']);

async function waitForState(id: string, wanted: string[], timeoutSeconds: number | null): Promise<Data> {
  let ticket = await loadTicket(id);
  const settled = () => wanted.includes(ticket.state) || FAILING.has(ticket.state) || ticket.state === 'DEPLOYED';
  const say = () =>
    progress.set(`#${id} ${ticket.state.toLowerCase()}… (waiting for ${wanted.join(' or ').toLowerCase()})`);
  let last = ticket.state;
  const changed = () => {
    if (ticket.state === last) return;
    last = ticket.state;
    if (!json && !process.stderr.isTTY) process.stderr.write(`#${id} ${ticket.state}\n`);
  };
  if (!settled()) {
    say();
    const lastEvent = await gql('query($id: ID!) { project(id: $id) { lastEventId } }', { id: ticket.project.id });
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_resolve, reject) => {
      if (timeoutSeconds !== null)
        timer = setTimeout(
          () => reject(new Exit(4, `timed out after ${timeoutSeconds} s: #${id} is ${ticket.state}`)),
          timeoutSeconds * 1000,
        );
    });
    // Events after the state was read: nothing between is missed.
    const watch = follow(
      'subscription($p: ID!, $after: ID) { ticketEvents(projectId: $p, afterEventId: $after) { id ticket { id state } } }',
      { p: ticket.project.id, after: lastEvent.project.lastEventId ?? '0' },
      (data) => {
        const event = data.ticketEvents;
        if (String(event.ticket.id) !== String(id)) return false;
        ticket = { ...ticket, state: event.ticket.state };
        changed();
        say();
        return settled();
      },
    );
    // Lost to the time limit, it ends with the socket: nothing is left waiting for it.
    watch.catch(() => {});
    try {
      await Promise.race([watch, limit]);
    } finally {
      clearTimeout(timer);
      progress.clear();
    }
    ticket = await loadTicket(id);
  }
  if (!wanted.includes(ticket.state)) {
    showTicket(ticket);
    throw new Exit(1, `#${id} is ${ticket.state}, not ${wanted.join(' or ')}`);
  }
  return ticket;
}

// ---------------------------------------------------------------------------------------------------------------
// A job's output: the stored lines, then (following) new ones as they are written, until the job ends.

const streamOf = (line: Data) =>
  line.stream === 'STDERR' ? paint('red', line.text) : line.stream === 'SYSTEM' ? paint('blue', line.text) : line.text;

async function printLog(jobId: string, live: boolean): Promise<Data> {
  // In --json mode stdout carries the answer alone: the output goes to stderr.
  const out = json ? process.stderr : process.stdout;
  const write = (lines: Data[]) => {
    if (lines.length) out.write(`${lines.map(streamOf).join('\n')}\n`);
  };
  if (live) {
    await follow(
      'subscription($id: ID!, $after: Int) { jobLog(jobId: $id, afterSeq: $after) { seq stream text } }',
      { id: jobId, after: 0 },
      (data) => {
        write(data.jobLog);
        return false;
      },
    );
  } else {
    let after = 0;
    for (;;) {
      const data = await gql(
        'query($id: ID!, $after: Int) { job(id: $id) { log(afterSeq: $after) { seq stream text } } }',
        {
          id: jobId,
          after,
        },
      );
      const lines = (data.job?.log ?? []) as Data[];
      write(lines);
      if (lines.length < 2000) break;
      after = lines.at(-1)?.seq ?? after;
    }
  }
  const data = await gql('query($id: ID!) { job(id: $id) { id kind state error } }', { id: jobId });
  if (!data.job) throw refused('NOT_FOUND', `job ${jobId} does not exist`);
  return data.job;
}

// ---------------------------------------------------------------------------------------------------------------
// The commands.

const program = new Command('slipway')
  .description("Slipway's release workflow from a terminal or a CI pipeline")
  .version(VERSION)
  .option('--json', 'print the API’s objects as JSON (a ticket: {id, kind, state, …}; a list: an array)')
  .addHelpText(
    'after',
    '\nSLIPWAY_URL and SLIPWAY_TOKEN (an API token from your profile page) say where and who; `slipway login` stores them.\nExit codes: 0 done, 1 the ticket or job failed, 2 usage, 3 refused by the server (its code on stderr), 4 timed out.',
  )
  .hook('preAction', (_program, command) => {
    json = command.optsWithGlobals().json === true;
  })
  .exitOverride()
  .configureOutput({ outputError: (text, write) => write(text) })
  .showSuggestionAfterError();

program
  .command('login')
  .description('store the server’s URL and an API token for the next commands (in ~/.config/slipway, mode 0600)')
  .argument('[url]', 'the Slipway server, e.g. https://slipway.example.com')
  .option('--token <token>', 'an API token (asked for when not given; read from stdin in a pipe)')
  .action(async (given: string | undefined, options: { token?: string }) => {
    const url = (given ?? process.env.SLIPWAY_URL ?? '').replace(/\/+$/, '');
    if (!/^https?:\/\//.test(url))
      throw new Exit(2, 'give the server’s URL, e.g. slipway login https://slipway.example.com');
    let token = options.token ?? process.env.SLIPWAY_TOKEN ?? '';
    if (!token) {
      const lines = createInterface({ input: process.stdin, output: process.stderr, terminal: process.stdin.isTTY });
      token = (await lines.question('API token (from your profile page): ')).trim();
      lines.close();
    }
    process.env.SLIPWAY_URL = url;
    process.env.SLIPWAY_TOKEN = token;
    const { me } = await gql('{ me { login name } }');
    if (!me) throw refused('UNAUTHENTICATED', 'the token is not accepted');
    const file = configFile();
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    await writeFile(file, `${JSON.stringify({ url, token }, null, 2)}\n`, { mode: 0o600 });
    await chmod(file, 0o600);
    print(
      { url, login: me.login, config: file },
      () => `signed in to ${url} as ${me.login} (${me.name}); saved in ${file}`,
    );
  });

program
  .command('projects')
  .description('the projects you can see, with what runs where')
  .action(async () => {
    const { projects } = await gql(
      '{ projects { id name sourceType ready viewerRole environments { name liveRelease { tag } } } }',
    );
    print(projects, () =>
      (projects as Data[]).map(
        (p) =>
          `${paint('bold', p.name)}  ${p.sourceType.toLowerCase()}${p.ready ? '' : ' (preparing)'}  ${p.environments
            .map((e: Data) => `${e.name}: ${e.liveRelease?.tag ?? '-'}`)
            .join('  ')}${p.viewerRole ? `  (${p.viewerRole.toLowerCase()})` : ''}`,
      ),
    );
  });

program
  .command('tickets')
  .description("a project's tickets, newest first")
  .requiredOption('-p, --project <name>', 'the project')
  .option('-s, --state <states>', 'only in these states (comma-separated, e.g. AWAITING_APPROVAL,APPROVED)')
  .option('--mine', 'only mine')
  .option('--search <words>', 'words in the reason or a path')
  .option('-n, --limit <n>', 'at most this many (1-100)', '20')
  .action(async (options: { project: string; state?: string; mine?: boolean; search?: string; limit: string }) => {
    const project = await projectNamed(options.project);
    const me = options.mine ? (await gql('{ me { id } }')).me : null;
    const { tickets } = await gql(
      `query($p: ID!, $s: [TicketState!], $a: ID, $q: String, $n: Int) {
        tickets(projectId: $p, states: $s, authorId: $a, search: $q, first: $n) {
          edges { node { id kind state reason paths updatedAt author { login } environment { name } release { tag } } } } }`,
      {
        p: project.id,
        s: options.state ? options.state.split(',').map((s) => s.trim().toUpperCase()) : null,
        a: me?.id ?? null,
        q: options.search ?? null,
        n: Number(options.limit),
      },
    );
    const list = (tickets.edges as Data[]).map((e) => e.node);
    print(list, () =>
      list.length
        ? list.map(
            (t) =>
              `${paint('bold', `#${t.id}`.padEnd(6))} ${state(t.state.padEnd(17))} ${t.reason}  ${paint('dim', `${t.author.login}${t.release ? ` ${t.release.tag}` : ''}`)}`,
          )
        : 'no tickets',
    );
  });

program
  .command('submit')
  .description('file a release ticket for paths (relative to the source URL)')
  .requiredOption('-p, --project <name>', 'the project')
  .requiredOption('-r, --reason <text>', 'why: what testers and approvers read')
  .argument('<paths...>', 'paths in the working copy, e.g. www/index.php')
  .option('-w, --wait', 'wait for the staging outcome (exit 1 when staging fails)')
  .option('-t, --timeout <seconds>', 'with --wait: give up after this long (exit 4)')
  .action(async (paths: string[], options: { project: string; reason: string; wait?: boolean; timeout?: string }) => {
    const project = await projectNamed(options.project);
    const { submitTicket } = await gql('mutation($i: SubmitTicketInput!) { submitTicket(input: $i) { id } }', {
      i: { projectId: project.id, reason: options.reason, paths },
    });
    const ticket = options.wait
      ? await waitForState(
          submitTicket.id,
          ['AWAITING_TEST', 'AWAITING_APPROVAL', 'APPROVED'],
          seconds(options.timeout),
        )
      : await loadTicket(submitTicket.id);
    showTicket(ticket);
  });

program
  .command('show')
  .description('a ticket: its state, paths, changes, approvals, jobs and what you may do')
  .argument('<ticket>', 'the ticket’s number')
  .action(async (id: string) => showTicket(await loadTicket(id)));

/** The workflow's person actions, each with an optional comment (a rejection needs one). */
const ACTIONS = [
  { name: 'pass', mutation: 'passTest', what: 'pass the test of a staged ticket' },
  { name: 'approve', mutation: 'approveTicket', what: 'approve a ticket (a lead)' },
  { name: 'return', mutation: 'returnTicket', what: 'send a ticket back to its author' },
  { name: 'reject', mutation: 'rejectTicket', what: 'reject a ticket (a comment is required)' },
  { name: 'cancel', mutation: 'cancelTicket', what: 'cancel a ticket' },
] as const;
for (const action of ACTIONS) {
  program
    .command(action.name)
    .description(action.what)
    .argument('<ticket>', 'the ticket’s number')
    .option('-m, --comment <text>', 'a comment for the audit trail')
    .action(async (id: string, options: { comment?: string }) => {
      const type = action.mutation === 'rejectTicket' ? 'String!' : 'String';
      if (action.mutation === 'rejectTicket' && !options.comment) throw new Exit(2, 'reject needs -m "why"');
      await gql(`mutation($id: ID!, $c: ${type}) { ${action.mutation}(id: $id, comment: $c) { id } }`, {
        id,
        c: options.comment ?? null,
      });
      showTicket(await loadTicket(id));
    });
}

program
  .command('deploy')
  .description('deploy an approved ticket (a release, rollback, promotion, repair or revert)')
  .argument('<ticket>', 'the ticket’s number')
  .option('-f, --follow', 'print the deploy’s output as it happens; exit 0 only when the ticket is DEPLOYED')
  .option('--delete-unknown', 'let a full sync delete files on the targets that no release put there')
  .option('--retry', 'retry a failed deploy (retryDeploy)')
  .action(async (id: string, options: { follow?: boolean; deleteUnknown?: boolean; retry?: boolean }) => {
    const mutation = options.retry ? 'retryDeploy' : 'deployTicket';
    await gql(`mutation($id: ID!, $d: Boolean) { ${mutation}(id: $id, deleteUnknown: $d) { id } }`, {
      id,
      d: options.deleteUnknown === true,
    });
    let ticket = await loadTicket(id);
    if (options.follow) {
      const SHIPPING = ['DEPLOY', 'ROLLBACK', 'PROMOTE', 'REPAIR', 'REVERT'];
      const job = (ticket.jobs as Data[]).findLast((j) => SHIPPING.includes(j.kind));
      if (job) await printLog(job.id, true);
      // The ticket's state follows the job's end (one transaction): wait for it to settle.
      ticket = await waitForState(id, ['DEPLOYED'], 60).catch((error) => {
        if (error instanceof Exit && error.code === 1) return loadTicket(id);
        throw error;
      });
      showTicket(ticket);
      if (ticket.state !== 'DEPLOYED') throw new Exit(1, `#${id} is ${ticket.state}`);
      return;
    }
    showTicket(ticket);
  });

program
  .command('logs')
  .description('a job’s output (job numbers are in `slipway show`)')
  .argument('<job>', 'the job’s number')
  .option('-f, --follow', 'keep printing new lines until the job ends; exit 1 if it failed')
  .action(async (jobId: string, options: { follow?: boolean }) => {
    const job = await printLog(jobId, options.follow === true);
    if (json) print(job, () => '');
    if (options.follow && job.state === 'FAILED') throw new Exit(1, `job ${jobId} failed: ${job.error ?? ''}`);
  });

program
  .command('wait')
  .description('wait until a ticket is in a state (exit 1 if it ends elsewhere, 4 on timeout)')
  .argument('<ticket>', 'the ticket’s number')
  .requiredOption('--for <states>', 'the state(s) to wait for, comma-separated, e.g. DEPLOYED')
  .option('-t, --timeout <seconds>', 'give up after this long (exit 4)')
  .action(async (id: string, options: { for: string; timeout?: string }) => {
    const wanted = options.for.split(',').map((s) => s.trim().toUpperCase());
    showTicket(await waitForState(id, wanted, seconds(options.timeout)));
  });

program
  .command('rollback')
  .description('ask to roll an environment back to an earlier release (a lead approves, then deploy)')
  .requiredOption('-p, --project <name>', 'the project')
  .argument('<tag>', 'the release to go back to, e.g. v41')
  .requiredOption('-r, --reason <text>', 'why')
  .option('-e, --environment <name>', 'which environment (required when there are several)')
  .action(async (tag: string, options: { project: string; reason: string; environment?: string }) => {
    const project = await projectNamed(options.project);
    const release = await releaseTagged(project.id, tag);
    const environment = options.environment ? environmentNamed(project, options.environment) : null;
    const { requestRollback } = await gql(
      'mutation($r: ID!, $why: String!, $e: ID) { requestRollback(releaseId: $r, reason: $why, environmentId: $e) { id } }',
      { r: release.id, why: options.reason, e: environment?.id ?? null },
    );
    showTicket(await loadTicket(requestRollback.id));
  });

program
  .command('promote')
  .description('ask to promote a release to the next environment')
  .requiredOption('-p, --project <name>', 'the project')
  .argument('<tag>', 'the release, e.g. v42')
  .requiredOption('--to <environment>', 'the environment it goes to')
  .requiredOption('-r, --reason <text>', 'why')
  .action(async (tag: string, options: { project: string; to: string; reason: string }) => {
    const project = await projectNamed(options.project);
    const release = await releaseTagged(project.id, tag);
    const environment = environmentNamed(project, options.to);
    const { requestPromotion } = await gql(
      'mutation($r: ID!, $e: ID!, $why: String!) { requestPromotion(releaseId: $r, environmentId: $e, reason: $why) { id } }',
      { r: release.id, e: environment.id, why: options.reason },
    );
    showTicket(await loadTicket(requestPromotion.id));
  });

program
  .command('revert')
  .description('ask to undo one deployed ticket’s change, keeping everything released since')
  .argument('<ticket>', 'the deployed ticket to undo')
  .requiredOption('-r, --reason <text>', 'why')
  .action(async (id: string, options: { reason: string }) => {
    const { requestRevert } = await gql(
      'mutation($id: ID!, $why: String!) { requestRevert(ticketId: $id, reason: $why) { id } }',
      { id, why: options.reason },
    );
    showTicket(await loadTicket(requestRevert.id));
  });

function seconds(value: string | undefined): number | null {
  if (value === undefined) return null;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Exit(2, `--timeout takes a number of seconds, not "${value}"`);
  return n;
}

// Options that take a value show it in the help; unknown ones are usage errors.
program.addOption(new Option('--no-color', 'no colours (as NO_COLOR does)').hideHelp());

async function main(): Promise<number> {
  if (process.argv.includes('--no-color')) process.env.NO_COLOR = '1';
  try {
    await program.parseAsync(process.argv);
    return 0;
  } catch (error) {
    progress.clear();
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof Exit) {
      if (error.message) process.stderr.write(`slipway: ${error.message}\n`);
      return error.code;
    }
    process.stderr.write(`slipway: ${(error as Error).stack ?? error}\n`);
    return 1;
  } finally {
    await socket?.dispose();
  }
}

process.exitCode = await main();
