#!/usr/bin/env node
// Benchmarks the built CLI against the targets in the README's Performance section. Each measurement is a fresh
// process; every case runs at least REPEAT times and the median is reported. Not part of the test suite.
import {execFileSync, spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const bin = join(root, 'bin', 'run.js')
const repeat = Number(process.env.BENCH_REPEAT ?? 5)
const only = process.env.BENCH_ONLY?.split(',')
const work = mkdtempSync(join(tmpdir(), 'updraft-bench-'))
const dags = join(work, 'dags')
mkdirSync(dags)

// start → t1..t8 → end: ten tasks with a fan-out and a fan-in.
const middle = Array.from({length: 8}, (_, index) => `t${index + 1}`)
const graph = [['start', []], ...middle.map((id) => [id, ['start']]), ['end', middle]]
function writeDag(name, schedule, taskBody) {
  const tasks = graph.map(([id, upstream]) => `{task_id: '${id}', ${taskBody}, upstream: ${JSON.stringify(upstream)}}`).join(',\n  ')
  writeFileSync(join(dags, `${name}.mjs`), `export default {schedule_interval: '${schedule}', start_date: '2023-01-01', max_active_runs: 16, tasks: [\n  ${tasks}\n]}\n`)
}

writeDag('noop_daily', '@daily', 'callable: () => {}')
writeDag('noop_hourly', '@hourly', 'callable: () => {}')
writeDag('shell_daily', '@daily', "bash_command: 'true'")
// The same graph over a date × 50-key grid (README "Partitions").
const keys = Array.from({length: 50}, (_, index) => `k${index + 1}`)
writeFileSync(join(dags, 'grid_daily.mjs'), readFileSync(join(dags, 'noop_daily.mjs'), 'utf8').replace('export default {', `export default {partitions: ${JSON.stringify(keys)}, `))
writeFileSync(
  join(dags, 'chain_hourly.mjs'),
  `export default {schedule_interval: '@hourly', start_date: '2023-01-01', max_active_runs: 16, tasks: [
  {task_id: 'a', bash_command: 'true'}, {task_id: 'b', bash_command: 'true', upstream: ['a']}, {task_id: 'c', bash_command: 'true', upstream: ['b']}]}\n`,
)

// P10: ten DAGs whose hourly years make the history, and a small DAG the commands are about.
const historyDags = Array.from({length: 10}, (_, index) => `history_${index + 1}`)
for (const name of historyDags) writeFileSync(join(dags, `${name}.mjs`), readFileSync(join(dags, 'noop_hourly.mjs'), 'utf8'))
writeFileSync(
  join(dags, 'small.mjs'),
  `export default {schedule_interval: '@daily', start_date: '2023-01-01', tasks: [
  {task_id: 'a', callable: () => {}}, {task_id: 'b', callable: () => {}, upstream: ['a']}, {task_id: 'c', callable: () => {}, upstream: ['b']}]}\n`,
)

// P13: a year of hourly dates × 3 keys, the DAG page's status bar (README "The web page").
writeFileSync(
  join(dags, 'keyed_hourly.mjs'),
  `export default {schedule_interval: '@hourly', start_date: '2025-01-01', end_date: '2025-12-31T23:00', partitions: ['eu', 'us', 'apac'], tasks: [{task_id: 'load', callable: () => {}}]}\n`,
)

// P12: four DAGs of one one-second task each, all in pool bench3; each try notes its start and end in a ledger.
const poolDags = [1, 2, 3, 4].map((index) => `pooled_${index}`)
for (const name of poolDags) {
  const note = (kind) => `echo "${kind} $(date +%s%N)" >> ${join(work, 'pool-ledger.txt')}`
  writeFileSync(join(dags, `${name}.mjs`), `export default {schedule_interval: '@daily', start_date: '2023-01-01', default_args: {pool: 'bench3'}, tasks: [{task_id: 'work', bash_command: ${JSON.stringify(`${note('start')}; sleep 1; ${note('end')}`)}}]}\n`)
}

const env = {...process.env, CI: 'true', NO_COLOR: '1'}
delete env.NODE_EXTRA_CA_CERTS

/**
 * P2's floor: what starting 1,000 shells costs on this machine with nothing else, 2 at a time, each in its own
 * process group with /dev/null for input (as every task gets). Arguments: how many, how many at once.
 */
const FORK_LOOP = String.raw`
use POSIX ();
my ($total, $limit) = @ARGV; my $running = 0;
for (1 .. $total) {
  if ($running >= $limit) { waitpid(-1, 0); $running-- }
  my $pid = fork();
  if ($pid == 0) { setpgrp(0, 0); open(STDIN, '<', '/dev/null'); exec '/bin/sh', '-c', 'true' }
  $running++;
}
1 while waitpid(-1, 0) > 0;
`

/** Runs a command under GNU time; returns wall ms and peak RSS in MB. */
function measure(command, args, options = {}) {
  if (options.env) options = {...options, env: Object.fromEntries(Object.entries(options.env).filter(([, value]) => value !== undefined))}
  const started = process.hrtime.bigint()
  const result = spawnSync('/usr/bin/time', ['-f', '%M', command, ...args], {cwd: work, encoding: 'utf8', env, maxBuffer: 1 << 30, ...options})
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status}: ${result.stderr.slice(-2000)}`)
  const rssKb = Number(result.stderr.trim().split('\n').at(-1))
  return {rssMb: rssKb / 1024, wallMs}
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

const cli = (...args) => ['node', [bin, ...args]]
const quote = (word) => `'${String(word).replaceAll("'", "'\\''")}'`
/** The same command on a real terminal of 120 × 30 (script(1) allocates a pty), where the live view is drawn. */
const onTerminal = ([command, args]) => {
  const line = `stty cols 120 rows 30; exec ${[command, ...args].map((word) => quote(word)).join(' ')}`
  return ['script', ['-qfec', line, '/dev/null'], {env: {...env, CI: undefined}}]
}

/** A store path with nothing behind it: the catalog and every document and journal named after it are removed. */
const freshDb = (name) => {
  const db = join(work, `${name}.json`)
  rmSync(join(work, 'logs'), {force: true, recursive: true})
  for (const file of readdirSync(work)) if (file === `${name}.json` || file.startsWith(`${name}.json.`)) rmSync(join(work, file), {force: true, recursive: true})
  return db
}

function makefileFor(dates) {
  const lines = ['.PHONY: all']
  const targets = []
  for (let d = 0; d < dates; d++) {
    for (const [id, upstream] of graph) {
      const name = `d${d}_${id}`
      lines.push(`${name}: ${upstream.map((up) => `d${d}_${up}`).join(' ')}`, '\t@/bin/sh -c true', `.PHONY: ${name}`)
      targets.push(name)
    }
  }

  lines.unshift(`all: ${targets.join(' ')}`)
  writeFileSync(join(work, 'Makefile'), lines.join('\n') + '\n')
}

/** A backfill of a generated DAG into a fresh state file (or the given one). */
const backfill = (dagId, end, db, ...extra) => cli('dags', 'backfill', dagId, '-s', '2023-01-01', '-e', end, '--dags-folder', dags, '--db', db, '--json', ...extra)
/** The same backfill with human output: the live view on a terminal, plain lines otherwise. */
const humanBackfill = (dagId, end, db) => cli('dags', 'backfill', dagId, '-s', '2023-01-01', '-e', end, '--dags-folder', dags, '--db', db)

/**
 * A dry run from 2023-01-01 as a whole process, and the planner alone on the same range, in-process on the built
 * modules (bench/plan-time.js), so the second figure is planning, not start-up.
 */
function dryRunAndPlan(dagId, end, ...batchSize) {
  const batch = batchSize.length > 0 ? ['--batch-size', ...batchSize] : []
  const process = measure(...cli('dags', 'backfill', dagId, '-s', '2023-01-01', '-e', end, ...batch, '--dry-run', '--json', '--dags-folder', dags, '--db', join(work, 'none.json')))
  const output = execFileSync('node', [join(root, 'bench', 'plan-time.js'), dags, dagId, '2023-01-01', end, ...batchSize], {cwd: work, encoding: 'utf8', env})
  return {...process, innerMs: JSON.parse(output).plan_ms}
}

/** A finished backfill from 2023-01-01 into a fresh state file `name`.json, for cases that read one. */
function completeBackfill(dagId, end, name) {
  const [command, args] = backfill(dagId, end, freshDb(name))
  execFileSync(command, args, {cwd: work, env, maxBuffer: 1 << 30})
}

/** A private redis-server on a unix socket in the bench folder, and two workers on it; stopped when the case ends. */
function withWorkers(run, concurrency = 1) {
  const socket = join(work, 'redis.sock')
  const redis = spawn('redis-server', ['--port', '0', '--unixsocket', socket, '--dir', work, '--save', '', '--appendonly', 'no'], {stdio: 'ignore'})
  const started = Date.now()
  while (!existsSync(socket) && Date.now() - started < 5000) spawnSync('sleep', ['0.02'])
  const url = `unix://${socket}`
  const workers = [1, 2].map(() => spawn('node', [bin, 'worker', '--concurrency', String(concurrency), '--redis-url', url, '--dags-folder', dags], {env, stdio: 'ignore'}))
  spawnSync('sleep', ['1.5'])
  try {
    return run(url)
  } finally {
    for (const worker of workers) worker.kill('SIGKILL')
    redis.kill('SIGKILL')
  }
}

const cases = {
  P1: {
    run: () => measure(...backfill('noop_daily', '2023-12-31', freshDb('b1'))),
    target: 'wall ≤ 2000 ms',
    workload: '10-task DAG, 365 daily dates, no-op callables',
  },
  P1b: {
    check() {
      JSON.parse(readFileSync(join(work, 'b2.json'), 'utf8'))
    },
    run: () => measure(...backfill('noop_hourly', '2023-12-31T23:00', freshDb('b2'))),
    target: 'wall ≤ 3000 ms, peak RSS ≤ 250 MB',
    workload: 'same DAG hourly for a year (87,600 TIs)',
  },
  P2: {
    run() {
      makefileFor(100)
      const make = measure('make', ['-j2', '-f', join(work, 'Makefile'), 'all'])
      const forkLoop = measure('perl', ['-e', FORK_LOOP, '1000', '2'])
      const updraft = measure(...backfill('shell_daily', '2023-04-10', freshDb('b3'), '--parallelism', '2'))
      return {...updraft, baselineMs: make.wallMs, floorMs: forkLoop.wallMs, floorRatio: updraft.wallMs / forkLoop.wallMs, ratio: updraft.wallMs / make.wallMs}
    },
    target: 'ratio ≤ 1.3 × make -j2; ≤ 1.25 × a bare fork loop',
    workload: 'same graph as `true` commands, 100 dates, parallelism 2; baselines: make -j2, and a Perl loop forking 1,000 `sh -c true` in their own process groups, 2 at a time',
  },
  P3: {
    prepare: () => completeBackfill('noop_daily', '2023-12-31', 'b4'),
    run: () => measure(...backfill('noop_daily', '2023-12-31', join(work, 'b4.json'))),
    target: 'wall ≤ 1000 ms',
    workload: "re-run of P1's range after it completed",
  },
  P4a: {
    run: () => measure(...cli('--help')),
    target: 'wall ≤ 300 ms',
    workload: 'updraft --help',
  },
  P4b: {
    run: () => measure(...cli('dags', 'backfill', 'noop_hourly', '-s', '2023-01-01', '-e', '2023-12-31T23:00', '--dry-run', '--json', '--dags-folder', dags, '--db', join(work, 'none.json'))),
    target: 'wall ≤ 1000 ms',
    workload: 'dags backfill --dry-run of 8,760 hourly dates',
  },
  P8a: {
    run: () => dryRunAndPlan('noop_hourly', '2023-12-31T23:00', '24'),
    target: 'plan ≤ 300 ms',
    workload: 'dags backfill --dry-run of 8,760 hourly dates with --batch-size 24 (365 runs); wall is the whole process',
  },
  P8b: {
    run: () => dryRunAndPlan('grid_daily', '2023-12-31'),
    target: 'plan ≤ 1000 ms',
    workload: 'dags backfill --dry-run of a year of daily dates × 50 partition keys (18,250 runs); wall is the whole process',
  },
  P6: {
    run() {
      const local = measure(...backfill('shell_daily', '2023-04-10', freshDb('p6l'), '--parallelism', '2'))
      const remote = withWorkers((url) => measure(...backfill('shell_daily', '2023-04-10', freshDb('p6r'), '--executor', 'bullmq', '--redis-url', url)))
      return {...remote, baselineMs: local.wallMs, innerMs: 1000 / (remote.wallMs / 1000), ratio: remote.wallMs / local.wallMs}
    },
    inner: 'throughput',
    innerUnit: 'TIs/s',
    target: 'ratio ≤ 2 × local',
    workload: '1,000 `true` task instances (100 dates × 10 tasks) on 2 workers over Redis; baseline: the local executor, parallelism 2',
  },
  P7: {
    // 10,000 hourly runs × 10 tasks: 100,000 task instances under backfill 1.
    prepare: () => completeBackfill('noop_hourly', '2024-02-21T15:00', 'p7'),
    run() {
      const process = measure(...cli('backfills', 'show', '1', '--db', join(work, 'p7.json'), '--dags-folder', dags), {env: {...env, COLUMNS: '120'}})
      const {NO_COLOR: _plain, ...coloured} = env
      const output = execFileSync('node', [join(root, 'bench', 'grid-time.js')], {cwd: work, encoding: 'utf8', env: {...coloured, FORCE_COLOR: '1'}})
      return {...process, innerMs: JSON.parse(output).draw_ms}
    },
    inner: 'draw',
    target: 'draw ≤ 1000 ms',
    workload: 'backfills show of 100,000 task instances (10 tasks × 10,000 runs); wall is the whole process, reading a 48 MB state file',
  },
  P9: {
    // The state file of P7, served; the browser draws its 100,000 boxes.
    prepare: () => existsSync(join(work, 'p7.json')) || completeBackfill('noop_hourly', '2024-02-21T15:00', 'p7'),
    repeat: 1,
    run() {
      const output = execFileSync('node', [join(root, 'bench', 'web-render-time.js'), join(work, 'p7.json'), dags], {cwd: work, encoding: 'utf8', env})
      const {answer_ms: answerMs, render_ms: renderMs} = JSON.parse(output)
      return {innerMs: renderMs, rssMb: 0, wallMs: answerMs + renderMs}
    },
    inner: 'render',
    target: 'render ≤ 2000 ms',
    workload: 'the web page of a backfill of 100,000 task instances in chromium (median of 5 loads); wall adds the server\'s answer',
  },
  P13: {
    // January to mid-March ran (5,256 runs), so the bar mixes green with missing.
    prepare: () => completeBackfill('keyed_hourly', '2025-03-14T23:00', 'p13'),
    repeat: 1,
    run() {
      const output = execFileSync('node', [join(root, 'bench', 'web-render-time.js'), join(work, 'p13.json'), dags, '/dags/keyed_hourly', '#status .sc[data-c]'], {cwd: work, encoding: 'utf8', env})
      const {answer_ms: answerMs, boxes, render_ms: renderMs} = JSON.parse(output)
      if (boxes !== 26_280) throw new Error(`P13 drew ${boxes} boxes, expected 26,280`)
      return {innerMs: renderMs, rssMb: 0, wallMs: answerMs + renderMs}
    },
    inner: 'render',
    target: 'render ≤ 1000 ms',
    workload: "a DAG page's status bar of a year of hourly dates × 3 keys (26,280 boxes) in chromium (median of 5 loads); wall adds the server's answer",
  },
  P5: {
    run() {
      const plain = measure(...humanBackfill('chain_hourly', '2023-01-07T23:00', freshDb('p5')))
      const live = measure(...onTerminal(humanBackfill('chain_hourly', '2023-01-07T23:00', freshDb('p5'))))
      return {...live, baselineMs: plain.wallMs, ratio: live.wallMs / plain.wallMs}
    },
    target: 'live view on a pty ≤ 1.5 × plain lines',
    workload: '168 hourly dates × 3 `true` tasks; baseline: the same with plain output',
  },
  P5b: {
    // About a minute and a half a run; once is enough to show it does not stall.
    repeat: 1,
    run: () => measure(...onTerminal(humanBackfill('chain_hourly', '2023-12-31T23:00', freshDb('p5b')))),
    target: 'finishes (no stall)',
    workload: 'a year of hourly dates × 3 `true` tasks with the live view on a pty',
  },
}

/**
 * P10: every command about the small DAG, on a store holding only it and on one that also holds 876,000 task
 * instances of other DAGs' history; and the cost of writing each year of that history.
 */
const smallCommands = {
  'dags backfill small -D (one date, reset)': ['dags', 'backfill', 'small', '-D', '2023-06-01', '--reset-dagruns', '-y', '--json'],
  'dags list-runs small': ['dags', 'list-runs', 'small', '--json'],
  'tasks states-for-dag-run small': ['tasks', 'states-for-dag-run', 'small', '2023-06-01', '--json'],
  'dags list': ['dags', 'list', '--json'],
  'backfills list': ['backfills', 'list'],
  'backfills list --dag-id small --json': ['backfills', 'list', '--dag-id', 'small', '--json'],
}
function storeWithHistory(storeOf) {
  const empty = storeOf('p10_empty')
  const big = storeOf('p10_big')
  for (const db of [empty, big]) execFileSync(...cli('dags', 'backfill', 'small', '-s', '2023-01-01', '-e', '2023-12-31', '--dags-folder', dags, '--db', db, '--json'), {cwd: work, env, maxBuffer: 1 << 30})
  const years = historyDags.map((dagId) => measure(...backfill(dagId, '2023-12-31T23:00', big)))
  return {big, empty, years}
}

/** P10 on one kind of store: `storeOf(name)` gives an empty store of that kind. */
function historyIndependence(name, storeOf) {
  const {big, empty, years} = storeWithHistory(storeOf)
  const ratio = (a, b) => Number((a / b).toFixed(2))
  const first = years[0]
  const worst = years.slice(1).reduce((slowest, year) => (year.wallMs > slowest.wallMs ? year : slowest))
  const result = {
    target: 'each command on the small DAG ≤ 1.25 × the empty store (wall and peak RSS); a year of history written ≤ 1.3 × the first',
    workload: '10 DAGs × 8,760 hourly runs × 10 tasks (876,000 TIs) of history beside a 3-task daily DAG with a year of runs',
    years_written_ms: years.map((year) => Math.round(year.wallMs)),
    year_ratio: ratio(worst.wallMs, first.wallMs),
    commands: {},
  }
  console.log(`${name.padEnd(5)} writing each hourly year: ${result.years_written_ms.join(', ')} ms; slowest after the first ${result.year_ratio} × the first`)
  for (const [label, args] of Object.entries(smallCommands)) {
    const samples = {big: [], empty: []}
    for (let index = 0; index < repeat; index++) {
      for (const [which, db] of [['empty', empty], ['big', big]]) samples[which].push(measure(...cli(...args, '--dags-folder', dags, '--db', db)))
    }

    const wall = (which) => median(samples[which].map((sample) => sample.wallMs))
    const rss = (which) => median(samples[which].map((sample) => sample.rssMb))
    const row = {big_ms: Math.round(wall('big')), empty_ms: Math.round(wall('empty')), rss_ratio: ratio(rss('big'), rss('empty')), wall_ratio: ratio(wall('big'), wall('empty'))}
    result.commands[label] = row
    console.log(`${name.padEnd(5)} ${label.padEnd(42)} ${String(row.empty_ms).padStart(5)} → ${String(row.big_ms).padStart(5)} ms (× ${row.wall_ratio}), peak RSS × ${row.rss_ratio}`)
  }

  return result
}

/**
 * A throwaway PostgreSQL on a unix socket in the bench folder (as the postgres user when root, which PostgreSQL
 * requires); `run` gets a function that creates an empty database and returns its URL.
 */
function withPostgres(run) {
  const bindir = ['/usr/lib/postgresql'].flatMap((folder) => (existsSync(folder) ? readdirSync(folder).sort((a, b) => Number(b) - Number(a)).map((version) => join(folder, version, 'bin')) : []))[0]
  const folder = mkdtempSync(join(tmpdir(), 'updraft-bench-pg-'))
  const asPostgres = (program, args) => (process.getuid() === 0 ? execFileSync('runuser', ['-u', 'postgres', '--', join(bindir, program), ...args]) : execFileSync(join(bindir, program), args))
  if (process.getuid() === 0) execFileSync('chown', ['postgres:postgres', folder])
  asPostgres('initdb', ['-D', join(folder, 'data'), '-A', 'trust', '-U', 'updraft', '--no-sync'])
  asPostgres('pg_ctl', ['-D', join(folder, 'data'), '-o', `-k ${folder} -h '' -p 5433`, '-l', join(folder, 'log'), '-w', 'start'])
  let made = 0
  const database = () => {
    const name = `bench_${++made}`
    execFileSync('psql', ['-h', folder, '-p', '5433', '-U', 'updraft', '-d', 'postgres', '-qc', `CREATE DATABASE ${name}`])
    return `postgresql://updraft@localhost:5433/${name}?host=${encodeURIComponent(folder)}`
  }

  try {
    return run(database)
  } finally {
    asPostgres('pg_ctl', ['-D', join(folder, 'data'), '-m', 'immediate', 'stop'])
    rmSync(folder, {force: true, recursive: true})
  }
}

/**
 * P12 (issue 20's pool benchmark): four backfills at once, each of 10 one-second tries, all in one pool of 3.
 * Every try writes its start and end to a ledger; from it come the most that ran at once and the span from the
 * first start to the last end (start-up aside), against the 13.3 s that 40 one-second tries need on 3 slots.
 */
function poolContention(extra) {
  const db = freshDb('p12')
  const ledger = join(work, 'pool-ledger.txt')
  rmSync(ledger, {force: true})
  execFileSync('node', [bin, 'pools', 'set', 'bench3', '3', '--db', db], {cwd: work, env})
  const commands = poolDags.map((dagId) => [bin, 'dags', 'backfill', dagId, '-s', '2023-01-01', '-e', '2023-01-10', '--dags-folder', dags, '--db', db, '--json', ...extra].map((word) => quote(word)).join(' '))
  const script = `${commands.map((command, index) => `node ${command} > /dev/null & p${index}=$!`).join('\n')}\n${commands.map((_, index) => `wait $p${index} || exit 1`).join('\n')}`
  const started = process.hrtime.bigint()
  execFileSync('bash', ['-c', script], {cwd: work, env, stdio: 'inherit'})
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6
  const events = readFileSync(ledger, 'utf8').trim().split('\n').map((line) => line.split(' ')).map(([kind, at]) => ({at: Number(BigInt(at) / 1000n) / 1000, delta: kind === 'start' ? 1 : -1}))
  events.sort((a, b) => a.at - b.at || a.delta - b.delta)
  let running = 0
  let peak = 0
  for (const event of events) peak = Math.max(peak, (running += event.delta))
  const spanMs = (events.at(-1).at - events[0].at)
  return {peak, ratio: Number((spanMs / (40_000 / 3)).toFixed(3)), span_ms: Math.round(spanMs), tries: events.filter((event) => event.delta === 1).length, wall_ms: Math.round(wallMs)}
}

const results = {}
if (!only || only.includes('P12')) {
  for (const [label, run] of [['local', () => poolContention([])], ['workers', () => withWorkers((url) => poolContention(['--executor', 'bullmq', '--redis-url', url]), 3)]]) {
    const samples = Array.from({length: repeat}, run)
    const row = {target: 'peak ≤ 3, 40 tries, span ≤ 1.15 × 13.3 s', peak: Math.max(...samples.map((sample) => sample.peak)), tries: median(samples.map((sample) => sample.tries)), span_ms: median(samples.map((sample) => sample.span_ms)), ratio: median(samples.map((sample) => sample.ratio)), wall_ms: median(samples.map((sample) => sample.wall_ms))}
    results[`P12 ${label}`] = row
    console.log(`P12  ${label.padEnd(8)} peak ${row.peak} at once, ${row.tries} tries, first start to last end ${row.span_ms} ms (× ${row.ratio} of 13,333 ms), wall ${row.wall_ms} ms`)
  }
}

if (!only || only.includes('P10')) results.P10 = historyIndependence('P10', freshDb)
if (!only || only.includes('P11')) {
  // P1 and P1b on PostgreSQL, measured alternately with the embedded store; then P10 on PostgreSQL.
  withPostgres((database) => {
    for (const [label, dagId, end] of [['P1', 'noop_daily', '2023-12-31'], ['P1b', 'noop_hourly', '2023-12-31T23:00']]) {
      const samples = {embedded: [], postgres: []}
      for (let index = 0; index < repeat; index++) {
        samples.embedded.push(measure(...backfill(dagId, end, freshDb(`p11_${label}`))))
        samples.postgres.push(measure(...backfill(dagId, end, database())))
      }

      const wall = (which) => median(samples[which].map((sample) => sample.wallMs))
      const rss = (which) => median(samples[which].map((sample) => sample.rssMb))
      const row = {embedded_ms: Math.round(wall('embedded')), embedded_rss_mb: Math.round(rss('embedded')), postgres_ms: Math.round(wall('postgres')), postgres_rss_mb: Math.round(rss('postgres')), ratio: Number((wall('postgres') / wall('embedded')).toFixed(2))}
      results[`P11 ${label}`] = {target: 'PostgreSQL ≤ 1.5 × the embedded store', ...row}
      console.log(`P11  ${label.padEnd(4)} embedded ${row.embedded_ms} ms ${row.embedded_rss_mb} MB, PostgreSQL ${row.postgres_ms} ms ${row.postgres_rss_mb} MB (× ${row.ratio})`)
    }

    results['P10 PostgreSQL'] = historyIndependence('P10pg', database)
  })
}

for (const [name, spec] of Object.entries(cases)) {
  if (only && !only.includes(name)) continue
  spec.prepare?.()
  const samples = []
  for (let index = 0; index < (spec.repeat ?? repeat); index++) {
    samples.push(spec.run())
    spec.check?.()
  }

  const summary = {target: spec.target, workload: spec.workload, wall_ms: Math.round(median(samples.map((s) => s.wallMs))), peak_rss_mb: Math.round(median(samples.map((s) => s.rssMb)))}
  if (samples[0].floorRatio !== undefined) {
    summary.floor_ms = Math.round(median(samples.map((s) => s.floorMs)))
    summary.floor_ratio = Number(median(samples.map((s) => s.floorRatio)).toFixed(2))
  }

  if (samples[0].ratio !== undefined) {
    summary.baseline_ms = Math.round(median(samples.map((s) => s.baselineMs)))
    summary.ratio = Number(median(samples.map((s) => s.ratio)).toFixed(2))
  }

  if (samples[0].innerMs !== undefined) summary[`${spec.inner ?? 'plan'}_ms`] = Math.round(median(samples.map((s) => s.innerMs)))
  results[name] = summary
  const extra = [summary.ratio === undefined ? '' : `  baseline ${summary.baseline_ms} ms, ratio ${summary.ratio}`, summary.floor_ratio === undefined ? '' : `; fork loop ${summary.floor_ms} ms, ratio ${summary.floor_ratio}`, samples[0].innerMs === undefined ? '' : `  ${spec.inner ?? 'plan'} ${summary[`${spec.inner ?? 'plan'}_ms`]} ${spec.innerUnit ?? 'ms'}`].join('')
  console.log(`${name.padEnd(4)} ${String(summary.wall_ms).padStart(7)} ms  ${String(summary.peak_rss_mb).padStart(4)} MB${extra}   target: ${spec.target}   (${spec.workload})`)
}

const out = join(root, 'bench', 'results')
mkdirSync(out, {recursive: true})
writeFileSync(join(out, 'latest.json'), JSON.stringify({node: process.version, repeat, results}, null, 2) + '\n')
console.log(`\nMedians of ${repeat} runs written to bench/results/latest.json`)
rmSync(work, {force: true, recursive: true})
