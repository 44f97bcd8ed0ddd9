import {type ChildProcess, spawn} from 'node:child_process'
import {accessSync, closeSync, constants as fsConstants, mkdirSync, openSync} from 'node:fs'
import {constants} from 'node:os'
import {dirname} from 'node:path'
import {fileURLToPath} from 'node:url'
import {getSystemErrorMap} from 'node:util'

/** One shell command to start: its own process group, working directory, environment and log file. */
export interface SpawnRequest {
  command: string
  cwd: string
  env: Record<string, string>
  logPath: string
}

/** How a spawned command ended: an exit code (128 + n for signal n), or an error if it never started. */
export interface SpawnOutcome {
  error: Error | null
  exitCode: null | number
  /** Why its log could not be opened, in which case the command never started. */
  logError?: Error
}

/** Starts shell commands; `onStart` receives the pid, which is also the process group id. */
export interface Spawner {
  /** True when the spawner itself caps how many commands run at once, so callers may hand it work ahead. */
  readonly bounded: boolean
  /** Drops the commands handed over but not started yet; they end with exit code 130. */
  cancelWaiting(): void
  close(): void
  run(request: SpawnRequest, onStart: (pid: number) => void): Promise<SpawnOutcome>
}

/**
 * The native spawn helper (spawn-helper.c), built beside this module when a C compiler was found at install. It
 * speaks the Perl server's protocol but starts commands with posix_spawn, which does not copy page tables as fork
 * does: on a virtual machine that halves what a short task costs.
 */
const NATIVE_HELPER = fileURLToPath(new URL('spawn-helper', import.meta.url))

/** Which spawn server to run: the native helper built at a path, or the Perl one. */
export type SpawnHelper = 'perl' | {native: string}

function defaultHelper(): SpawnHelper {
  try {
    accessSync(NATIVE_HELPER, fsConstants.X_OK)
    return {native: NATIVE_HELPER}
  } catch {
    return 'perl'
  }
}

/**
 * The Perl spawn server: a small Perl loop that reads length-prefixed requests on stdin and forks `/bin/sh -c` for
 * each, at most `limit` at a time, reporting `S id pid` and `E id code` lines (`L id errno` for a log it cannot open). It keeps its own queue so the next
 * command starts the moment one exits, without a round trip through Node. Forking a 5 MB Perl process costs a fraction of forking
 * Node (which copies the page tables of a 100 MB process on the event-loop thread), so short tasks run at
 * close to the speed of make. Children exit codes are collected on SIGCHLD through a self-pipe.
 */
const SERVER_SOURCE = String.raw`
use strict; use warnings; use POSIX (); use File::Path (); use Time::HiRes ();
# SIGPIPE is ignored: a report written to a parent that just died must not kill this process before it has
# stopped the groups it started; a failed write is taken as the parent's end instead.
$| = 1; $SIG{PIPE} = 'IGNORE';
my $limit = $ARGV[0]; my %running; my @waiting; my $buffer = ''; my $eof = 0; my $childless = 0;
# A task's processes whose shell died first are re-parented here instead of to init, which on some machines
# reaps them only a second or more later; reap() collects them at once. Without prctl this is skipped.
eval { no warnings; require 'sys/syscall.ph'; syscall(&SYS_prctl, 36, 1, 0, 0, 0) };
pipe(my $wakeR, my $wakeW) or die "pipe: $!";
for my $fh ($wakeR, $wakeW) { fcntl($fh, POSIX::F_SETFL(), fcntl($fh, POSIX::F_GETFL(), 0) | POSIX::O_NONBLOCK()) }
$SIG{CHLD} = sub { syswrite($wakeW, 'x') };
sub report { print $_[0] or parent_gone() }
sub reap {
  my $pid;
  while (($pid = waitpid(-1, POSIX::WNOHANG())) > 0) {
    my $id = delete $running{$pid}; next unless defined $id;
    my $status = $?; my $code = ($status & 127) ? 128 + ($status & 127) : ($status >> 8);
    report("E $id $code\n");
  }
  $childless = $pid < 0;
}
sub start {
  my ($id, $cwd, $log, $command, @env) = split /\0/, $_[0], -1;
  # The log is opened here, before anything starts, so a log that cannot be written is reported as such (L id errno).
  my ($logDir) = $log =~ m{^(.*)/};
  eval { File::Path::make_path($logDir) } if defined $logDir && !-d $logDir;
  open(my $logFh, '>>', $log) or do { report("L $id " . ($! + 0) . "\n"); return };
  my $pid = fork();
  if (!defined $pid) { report("E $id 127\n"); return }
  if ($pid == 0) {
    # An ignored signal stays ignored across exec; tasks get the default a shell expects.
    $SIG{PIPE} = 'DEFAULT';
    setpgrp(0, 0);
    open(STDIN, '<', '/dev/null');
    open(STDOUT, '>&', $logFh) or POSIX::_exit(126);
    open(STDERR, '>&', $logFh);
    chdir($cwd) or do { print STDERR "cannot change directory to $cwd: $!\n"; POSIX::_exit(127) };
    for my $pair (@env) { my ($key, $value) = split /=/, $pair, 2; $ENV{$key} = $value }
    { exec '/bin/sh', '-c', $command }
    print STDERR "cannot run /bin/sh: $!\n"; POSIX::_exit(127);
  }
  close($logFh);
  # Set from both sides, so the group exists before Node hears the pid and may signal it.
  POSIX::setpgid($pid, $pid);
  $running{$pid} = $id; report("S $id $pid\n");
}
sub fill { start(shift @waiting) while @waiting && keys(%running) < $limit }
# End of input means the parent is gone (or done): nothing may outlive it, so every group is terminated, then killed.
my ($deadline, @stopped);
sub stop_all {
  return if defined $deadline;
  @waiting = (); @stopped = keys %running; $deadline = Time::HiRes::time() + 1;
  kill 'TERM', -$_ for @stopped;
}
sub parent_gone { $eof = 1; stop_all() }
while (!$eof || %running || @waiting || (defined $deadline && !$childless)) {
  if (defined $deadline && Time::HiRes::time() >= $deadline) { kill 'KILL', -$_ for @stopped; last }
  my $wanted = ''; vec($wanted, fileno($wakeR), 1) = 1; vec($wanted, fileno(STDIN), 1) = 1 unless $eof;
  my $ready = select(my $got = $wanted, undef, undef, 0.05);
  if ($ready > 0 && vec($got, fileno($wakeR), 1)) { sysread($wakeR, my $drain, 4096) }
  reap();
  fill();
  if ($ready > 0 && !$eof && vec($got, fileno(STDIN), 1)) {
    my $read = sysread(STDIN, $buffer, 1 << 16, length $buffer);
    $eof = 1 unless $read;
    while ($buffer =~ /^(\d+)\n/) {
      my $header = length($1) + 1; my $size = $1;
      last if length($buffer) < $header + $size;
      my $payload = substr($buffer, $header, $size); substr($buffer, 0, $header + $size, '');
      # An empty request cancels the commands that have not started yet.
      if ($size == 0) { for my $entry (@waiting) { my ($id) = split /\0/, $entry; report("E $id 130\n") } @waiting = (); next }
      push @waiting, $payload;
    }

    if ($eof) { stop_all() } else { fill() }
  }
}
kill 'KILL', -$_ for @stopped;
for (1 .. 20) { reap(); last if $childless; select(undef, undef, undef, 0.01) }
`

/** The error Node would have thrown opening the log, from the errno a spawn server reported. */
function logOpenError(errno: number, logPath: string): Error {
  const [code, message] = getSystemErrorMap().get(-errno) ?? ['EIO', 'i/o error']
  return Object.assign(new Error(`${code}: ${message}, open '${logPath}'`), {code, errno: -errno, path: logPath, syscall: 'open'})
}

interface Pending {
  onStart: (pid: number) => void
  started?: boolean
  request: SpawnRequest
  resolve: (outcome: SpawnOutcome) => void
  /** The request as the server reads it, kept so another server can be handed it if this one cannot start. */
  text: string
}

/**
 * Runs commands through one long-lived spawn server: the native helper, else the Perl one, else (if neither
 * starts) direct spawning.
 */
export class SpawnServer implements Spawner {
  readonly bounded = true
  private child: ChildProcess | null = null
  private readonly direct = new DirectSpawner()
  /** The servers still to try, the one running (or next to start) first. */
  private readonly helpers: SpawnHelper[]
  private nextId = 0
  private readonly pending = new Map<number, Pending>()
  /** Requests not written to the server yet, each with the turn of the event loop it was made in. */
  private readonly outbox: Array<{id: number; text: string; turn: number}> = []
  private turn = 0
  private turnEnding = false
  private readonly whenDurable: (send: () => void) => void

  /**
   * `baseEnv` is the server's own environment; each request sends only what differs from it. `whenDurable` calls
   * back once what was recorded so far is durable (by default at once).
   */
  constructor(
    private readonly baseEnv: Record<string, string>,
    private readonly limit: number,
    options: {helper?: SpawnHelper; whenDurable?: (send: () => void) => void} = {},
  ) {
    const helper = options.helper ?? defaultHelper()
    this.helpers = helper === 'perl' ? ['perl'] : [helper, 'perl']
    this.whenDurable = options.whenDurable ?? ((send) => send())
  }

  cancelWaiting(): void {
    // Requests still in the outbox never reach the server: they end as not started, like the ones it drops.
    for (const id of this.outbox.splice(0).map((entry) => entry.id)) this.finish(id, {error: null, exitCode: 130})
    this.child?.stdin?.write('0\n')
  }

  close(): void {
    this.sendOutbox()
    this.child?.stdin?.end()
    this.child = null
  }

  async run(request: SpawnRequest, onStart: (pid: number) => void): Promise<SpawnOutcome> {
    if (this.helpers.length === 0) return this.direct.run(request, onStart)
    if (!this.child) this.startServer()
    const id = this.nextId++
    const changed = Object.entries(request.env).filter(([key, value]) => this.baseEnv[key] !== value && !key.includes('\0') && !value.includes('\0'))
    const payload = [String(id), request.cwd, request.logPath, request.command, ...changed.map(([key, value]) => `${key}=${value}`)].join('\0')
    const text = `${Buffer.byteLength(payload)}\n${payload}`
    const outcome = new Promise<SpawnOutcome>((resolve) => {
      this.pending.set(id, {onStart, request, resolve, text})
    })
    // Sent once what this turn of the event loop recorded is durable (the store queued its write first, at the end
    // of the turn): a task never starts before the state that made it ready is, even when a commit takes a while.
    this.outbox.push({id, text, turn: this.turn})
    if (!this.turnEnding) {
      this.turnEnding = true
      setImmediate(() => {
        this.turnEnding = false
        const turn = this.turn++
        this.whenDurable(() => this.sendOutbox(turn))
      })
    }

    return outcome
  }

  /** Writes the requests made up to `lastTurn` (all of them by default) to the server. */
  private sendOutbox(lastTurn = Number.POSITIVE_INFINITY): void {
    const due = this.outbox.findIndex((entry) => entry.turn > lastTurn)
    const sent = this.outbox.splice(0, due < 0 ? this.outbox.length : due)
    if (sent.length > 0) this.child?.stdin?.write(sent.map((entry) => entry.text).join(''))
  }

  private finish(id: number, outcome: SpawnOutcome): void {
    const entry = this.pending.get(id)
    this.pending.delete(id)
    entry?.resolve(outcome)
  }

  private startServer(): ChildProcess {
    const helper = this.helpers[0]
    const [command, args] = helper === undefined || helper === 'perl' ? ['perl', ['-e', SERVER_SOURCE, String(this.limit)]] : [helper.native, [String(this.limit)]]
    // Its own session: a Ctrl-C on the terminal is for updraft, which then stops the tasks itself.
    const child = spawn(command, args, {detached: true, env: this.baseEnv, stdio: ['pipe', 'pipe', 'ignore']})
    this.child = child
    let buffered = ''
    child.stdout?.setEncoding('utf8')
    child.stdout?.on('data', (chunk: string) => {
      buffered += chunk
      let newline
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const [kind, id, value] = buffered.slice(0, newline).split(' ')
        buffered = buffered.slice(newline + 1)
        const entry = this.pending.get(Number(id))
        if (!entry) continue
        if (kind === 'S') {
          entry.started = true
          entry.onStart(Number(value))
        } else if (kind === 'L') {
          this.finish(Number(id), {error: null, exitCode: null, logError: logOpenError(Number(value), entry.request.logPath)})
        } else {
          this.finish(Number(id), {error: null, exitCode: Number(value)})
        }
      }
    })
    // If the server cannot start or dies, requests not yet started go to the next server (or to direct spawning
    // after the last); one that had started cannot be followed any more and fails rather than run twice.
    let fellBack = false
    const fallBack = () => {
      if (fellBack) return
      fellBack = true
      this.helpers.shift()
      // Once closed, nothing starts another server.
      const next = this.child === child && this.helpers.length > 0
      this.child = null
      this.outbox.length = 0
      for (const [id, entry] of this.pending) {
        if (!entry.started && next) continue
        this.pending.delete(id)
        if (entry.started) entry.resolve({error: new Error('the spawn server exited while the task was running'), exitCode: null})
        else this.direct.run(entry.request, entry.onStart).then(entry.resolve, () => {})
      }
      if (this.pending.size === 0) return
      this.startServer()
      for (const [id, entry] of this.pending) this.outbox.push({id, text: entry.text, turn: -1})
      this.sendOutbox(-1)
    }

    child.on('error', fallBack)
    child.on('exit', () => {
      if (this.pending.size > 0) fallBack()
      // A server that died while idle is started afresh for the next request rather than written to unheard.
      else if (this.child === child) this.child = null
    })
    child.stdin?.on('error', () => {})
    return child
  }
}

/** Spawns each command from Node itself: the portable path, and the fallback when no spawn server starts. */
export class DirectSpawner implements Spawner {
  readonly bounded = false

  cancelWaiting(): void {}

  close(): void {}

  async run(request: SpawnRequest, onStart: (pid: number) => void): Promise<SpawnOutcome> {
    let log: number
    try {
      mkdirSync(dirname(request.logPath), {recursive: true})
      log = openSync(request.logPath, 'a')
    } catch (error) {
      return {error: null, exitCode: null, logError: error as Error}
    }

    try {
      const child = spawn('/bin/sh', ['-c', request.command], {cwd: request.cwd, detached: true, env: request.env, stdio: ['ignore', log, log]})
      if (child.pid !== undefined) onStart(child.pid)
      return await new Promise<SpawnOutcome>((resolve) => {
        child.once('error', (error) => resolve({error, exitCode: null}))
        child.once('exit', (code, signal) => resolve({error: null, exitCode: code ?? 128 + (signal ? constants.signals[signal] : 0)}))
      })
    } finally {
      closeSync(log)
    }
  }
}
