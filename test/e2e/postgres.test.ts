import {afterAll, beforeAll, describe, expect, it} from '@jest/globals'
import {spawnSync} from 'node:child_process'
import {existsSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {launchChromium, startWebserver} from '../helpers/browser.js'
import {alive, reapAfterAll} from '../helpers/processes.js'
import {startPostgres} from '../helpers/postgres-server.js'
import {startRedis} from '../helpers/redis-server.js'
import {BIN, runCli, startCli} from '../helpers/run-cli.js'
import {waitFor} from '../helpers/state-file.js'
import {failingMonth} from '../helpers/sample-dags.js'
import {tmpProject} from '../helpers/tmp-project.js'

const month = failingMonth
// Each try appends its date to a file of the project it runs in, and waits for a file the test writes.
const gated = `export default {schedule_interval: '@daily', start_date: '2024-01-01', max_active_runs: 2,
  tasks: [{task_id: 'work', bash_command: 'echo {{ ds }} >> ../tries.txt; while [ ! -e ../go ]; do sleep 0.05; done'}]}`

/** Tests that run the CLI a few dozen times: generous, so a busy machine does not fail them. */
const MANY_COMMANDS_MS = 120_000

let postgres: Awaited<ReturnType<typeof startPostgres>>
beforeAll(async () => {
  postgres = await startPostgres()
})
afterAll(() => postgres.stop())
const started = reapAfterAll()

/** A working directory of its own, as another machine would have: only the DAG files are the same. */
const machine = (dag: string, source: string) => tmpProject({[`dags/${dag}.mjs`]: source})
const cli = (root: string, db: string, ...args: string[]) => runCli([...args, '--db', db], {cwd: root})
const json = (root: string, db: string, ...args: string[]) => JSON.parse(cli(root, db, ...args, '--json').stdout)
const lines = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8').trim().split('\n').filter(Boolean) : [])
/** What two stores must agree on: everything but the instants and pids that differ from run to run. */
const comparable = (value: unknown): unknown =>
  JSON.parse(JSON.stringify(value), (key, inner) => (['start_date', 'end_date', 'duration_ms', 'created_at', 'finished_at', 'pid', 'host', 'log_path', 'started_at', 'since', 'fileloc'].includes(key) ? '…' : inner))

describe('state in PostgreSQL (§16)', () => {
  it('shows the same runs, task instances and records as the embedded store, and writes no state file', () => {
    const db = postgres.newDatabase()
    const onDatabase = machine('month', month)
    const onFolder = machine('month', month)
    for (const [root, store] of [[onDatabase, db], [onFolder, join(onFolder, '.updraft', 'db.json')]] as const) {
      const result = cli(root, store, 'dags', 'backfill', 'month', '-s', '2024-01-01', '-e', '2024-01-31', '--json')
      expect(result.code).toBe(1)
    }

    for (const command of [['dags', 'list-runs', 'month'], ['tasks', 'states-for-dag-run', 'month', '2024-01-17'], ['backfills', 'list'], ['backfills', 'show', '1'], ['dags', 'list']]) {
      const fromDatabase = json(onDatabase, db, ...command)
      expect(comparable(fromDatabase)).toEqual(comparable(json(onFolder, join(onFolder, '.updraft', 'db.json'), ...command)))
    }

    expect(json(onDatabase, db, 'backfills', 'show', '1').counts).toEqual({failed: 1, success: 152, upstream_failed: 2})
    // The task logs stay where the tasks ran; no state is kept beside them.
    expect(existsSync(join(onDatabase, '.updraft', 'logs', 'month'))).toBe(true)
    expect(existsSync(join(onDatabase, '.updraft', 'db.json'))).toBe(false)
    const log = cli(onDatabase, db, 'tasks', 'logs', 'month', 'aggregate', '2024-01-17')
    expect(log.code).toBe(0)
   }, MANY_COMMANDS_MS)

  it('keeps partitions, batches, scheduled runs and tries on workers as the embedded store does', async () => {
    const db = postgres.newDatabase()
    const daysAgo = (days: number) => new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 10)
    const files = {
      // Only `daily` is for the scheduler; the others start paused.
      'dags/grid.mjs': `export default {schedule_interval: '@daily', start_date: '2024-01-01', partitions: ['eu', 'us'], is_paused_upon_creation: true,
        tasks: [{task_id: 'load', bash_command: 'test {{ partition_key }}-{{ ds }} != us-2024-01-02'}]}`,
      'dags/batched.mjs': `export default {schedule_interval: '@hourly', start_date: '2024-01-01', is_paused_upon_creation: true,
        tasks: [{task_id: 'sum', callable: () => {}}]}`,
      'dags/daily.mjs': `export default {schedule_interval: '@daily', start_date: '${daysAgo(2)}', tasks: [{task_id: 'report', bash_command: 'true'}]}`,
      'dags/remote.mjs': `export default {schedule_interval: '@daily', start_date: '2024-01-01', is_paused_upon_creation: true, tasks: [{task_id: 'echo', bash_command: 'echo remote {{ ds }}'}]}`,
    }
    const [onDatabase, onFolder] = [tmpProject(files), tmpProject(files)]
    const redis = await startRedis()
    const worker = startCli(['worker', '--queue', 'pg', '--redis-url', redis.url], {cwd: onDatabase})
    started.push(worker.child.pid as number)
    try {
      for (const [root, store] of [[onDatabase, db], [onFolder, join(onFolder, '.updraft', 'db.json')]] as const) {
        expect(cli(root, store, 'dags', 'backfill', 'grid', '-s', '2024-01-01', '-e', '2024-01-03').code).toBe(1)
        expect(cli(root, store, 'dags', 'backfill', 'batched', '-s', '2024-01-01', '-e', '2024-01-01T23:00', '--batch-size', '6').code).toBe(0)
        expect(cli(root, store, 'scheduler', '--once').code).toBe(0)
      }

      const remote = cli(onDatabase, db, 'dags', 'backfill', 'remote', '-s', '2024-01-01', '-e', '2024-01-02', '--executor', 'bullmq', '--queue', 'pg', '--redis-url', redis.url)
      expect(remote.code).toBe(0)
      expect(json(onDatabase, db, 'dags', 'list-runs', 'remote').runs.map((run: {state: string}) => run.state)).toEqual(['success', 'success'])
      expect(cli(onDatabase, db, 'tasks', 'logs', 'remote', 'echo', '2024-01-02').stdout).toBe('remote 2024-01-02\n')
    } finally {
      worker.child.kill('SIGTERM')
      await worker.done
      redis.stop()
    }

    for (const command of [['dags', 'list-runs', 'grid'], ['dags', 'list-runs', 'batched'], ['dags', 'list-runs', 'daily'], ['tasks', 'states-for-dag-run', 'grid', '2024-01-02', '--partition', 'us'], ['backfills', 'list', '--dag-id', 'grid'], ['backfills', 'list', '--dag-id', 'batched']]) {
      expect(comparable(json(onDatabase, db, ...command))).toEqual(comparable(json(onFolder, join(onFolder, '.updraft', 'db.json'), ...command)))
    }

    expect(json(onDatabase, db, 'dags', 'list-runs', 'daily').runs.map((run: {run_id: string}) => run.run_id)).toEqual([2, 1].map((days) => `scheduled__${daysAgo(days)}T00:00:00+00:00`))
  }, MANY_COMMANDS_MS)

  it('lets two machines backfill disjoint dates of one DAG at once, refuses an overlap, and takes over from one killed with -9', async () => {
    const db = postgres.newDatabase()
    const [first, second, third] = [machine('gated', gated), machine('gated', gated), machine('gated', gated)]
    const january = startCli(['dags', 'backfill', 'gated', '-s', '2024-01-01', '-e', '2024-01-04', '--db', db], {cwd: first})
    const february = startCli(['dags', 'backfill', 'gated', '-s', '2024-02-01', '-e', '2024-02-02', '--db', db], {cwd: second})
    started.push(january.child.pid as number, february.child.pid as number)
    await waitFor(() => lines(join(first, 'tries.txt')).length === 2 && lines(join(second, 'tries.txt')).length === 2)

    const overlap = cli(third, db, 'dags', 'backfill', 'gated', '-s', '2024-01-04', '-e', '2024-01-05')
    expect(overlap.code).toBe(1)
    expect(overlap.stderr).toContain('BACKFILL_LOCKED')
    expect(overlap.stderr).toContain('2024-01-04')
    expect(overlap.stderr).toContain(`pid ${january.child.pid}`)
    expect(lines(join(third, 'tries.txt'))).toEqual([])

    january.child.kill('SIGKILL')
    await january.done
    writeFileSync(join(second, 'go'), '')
    const finished = await february.done
    expect(finished.code).toBe(0)

    // The same host sees at once that the owner is gone: its runs are taken over without waiting for the lease.
    writeFileSync(join(third, 'go'), '')
    const resumed = cli(third, db, 'dags', 'backfill', 'gated', '-s', '2024-01-01', '-e', '2024-01-05', '--json')
    expect(resumed.code).toBe(0)
    const {runs} = json(third, db, 'dags', 'list-runs', 'gated')
    expect(runs.map((run: {logical_date: string; state: string}) => [run.logical_date.slice(0, 10), run.state]).sort()).toEqual(
      ['2024-01-01', '2024-01-02', '2024-01-03', '2024-01-04', '2024-01-05', '2024-02-01', '2024-02-02'].map((day) => [day, 'success']),
    )
    // The two dates the killed backfill had started ran again (try 2); none ran twice at once.
    expect(lines(join(third, 'tries.txt')).sort()).toEqual(['2024-01-01', '2024-01-02', '2024-01-03', '2024-01-04', '2024-01-05'])
    const tryOf = (day: string) => json(third, db, 'tasks', 'states-for-dag-run', 'gated', day).task_instances[0].try_number
    expect([tryOf('2024-01-01'), tryOf('2024-01-03')]).toEqual([2, 1])
    expect(alive(january.child.pid as number)).toBe(false)
  })

  it('cancels a backfill from another machine', async () => {
    const db = postgres.newDatabase()
    const [runner, other] = [machine('gated', gated), machine('gated', gated)]
    const running = startCli(['dags', 'backfill', 'gated', '-s', '2024-01-01', '-e', '2024-01-03', '--db', db], {cwd: runner})
    started.push(running.child.pid as number)
    await waitFor(() => lines(join(runner, 'tries.txt')).length === 2)
    const cancel = cli(other, db, 'backfills', 'cancel', '1')
    expect(cancel.stderr).toBe('')
    expect(cancel.code).toBe(0)
    expect((await running.done).code).toBe(1)
    expect(json(other, db, 'backfills', 'show', '1').state).toBe('cancelled')
  })

  it('keeps the end of each try\'s log, so another machine reads it when the file is not there', () => {
    const db = postgres.newDatabase()
    const chatty = `export default {schedule_interval: '@daily', start_date: '2024-01-01',
      tasks: [{task_id: 'talk', bash_command: 'echo start of {{ ds }}; seq 1 300000; echo end of {{ ds }}'}]}`
    const [ran, elsewhere] = [machine('chatty', chatty), machine('chatty', chatty)]
    expect(cli(ran, db, 'dags', 'backfill', 'chatty', '-s', '2024-01-01').code).toBe(0)
    const local = cli(ran, db, 'tasks', 'logs', 'chatty', 'talk', '2024-01-01')
    expect(local.stdout.startsWith('start of 2024-01-01\n1\n')).toBe(true)
    rmSync(join(ran, '.updraft'), {force: true, recursive: true})

    const remote = cli(elsewhere, db, 'tasks', 'logs', 'chatty', 'talk', '2024-01-01')
    expect(remote.code).toBe(0)
    const cut = Buffer.byteLength(local.stdout) - 1024 * 1024
    expect(remote.stdout.split('\n')[0]).toBe(`[updraft: the first ${cut} bytes of this log were cut; the last ${1024 * 1024} are kept]`)
    expect(remote.stdout.endsWith('299999\n300000\nend of 2024-01-01\n')).toBe(true)
    expect(Buffer.byteLength(remote.stdout)).toBeLessThan(1024 * 1024 + 200)
  })

  it('copies a whole state to PostgreSQL and back with db copy, and every command reads the same', () => {
    const db = postgres.newDatabase()
    const root = machine('month', month)
    const original = join(root, '.updraft', 'db.json')
    const back = join(root, 'back', 'db.json')
    expect(cli(root, original, 'dags', 'backfill', 'month', '-s', '2024-01-01', '-e', '2024-01-20').code).toBe(1)
    expect(cli(root, original, 'dags', 'backfill', 'month', '-s', '2024-01-17', '-t', '^aggregate$', '--rerun-failed-tasks').code).toBe(1)
    expect(cli(root, original, 'dags', 'pause', 'month').code).toBe(0)

    const there = runCli(['db', 'copy', '.updraft/db.json', db, '--json'], {cwd: root})
    expect(there.code).toBe(0)
    expect(JSON.parse(there.stdout)).toMatchObject({backfills: 2, dags: 1, runs: 20, settings: 1})
    expect(runCli(['db', 'copy', db, back], {cwd: root}).code).toBe(0)
    const commands = [['dags', 'list-runs', 'month'], ['tasks', 'states-for-dag-run', 'month', '2024-01-17'], ['backfills', 'list'], ['backfills', 'show', '2'], ['dags', 'list'], ['dags', 'show', 'month']]
    for (const command of commands) {
      for (const format of [[], ['--json']]) {
        const expected = cli(root, original, ...command, ...format).stdout
        expect(cli(root, db, ...command, ...format).stdout).toBe(expected)
        expect(cli(root, back, ...command, ...format).stdout).toBe(expected)
      }
    }

    const again = runCli(['db', 'copy', '.updraft/db.json', db], {cwd: root})
    expect([again.code, again.stderr]).toEqual([1, expect.stringContaining('DB_COPY_TARGET_NOT_EMPTY')])
    const same = runCli(['db', 'copy', '.updraft/db.json', original], {cwd: root})
    expect([same.code, same.stderr]).toEqual([2, expect.stringContaining('USAGE')])
    const empty = runCli(['db', 'copy', 'nothing/db.json', postgres.newDatabase()], {cwd: root})
    expect([empty.code, empty.stderr]).toEqual([1, expect.stringContaining('DB_COPY_SOURCE_EMPTY')])
   }, MANY_COMMANDS_MS)

  it('serves the web page from another machine, its boxes turning green as the backfill runs', async () => {
    const db = postgres.newDatabase()
    const stepwise = `export default {schedule_interval: '@daily', start_date: '2024-01-01', max_active_runs: 1,
      tasks: [{task_id: 'step', bash_command: 'while [ ! -e ../go-{{ ds }} ]; do sleep 0.05; done'}]}`
    const [runner, viewer] = [machine('stepwise', stepwise), machine('stepwise', stepwise)]
    const backfill = startCli(['dags', 'backfill', 'stepwise', '-s', '2024-01-01', '-e', '2024-01-03', '--db', db], {cwd: runner})
    started.push(backfill.child.pid as number)
    await waitFor(() => cli(viewer, db, 'backfills', 'list').stdout.includes('running'))
    const server = await startWebserver(viewer, ['--db', db])
    started.push(server.child.pid as number)
    const browser = await launchChromium()
    try {
      const page = await browser.newPage()
      await page.goto(`${server.url}/backfills/1`)
      await page.waitForSelector('#grid .c')
      await page.evaluate(() => {
        ;(window as unknown as {sameDocument: boolean}).sameDocument = true
      })
      for (const [index, day] of ['2024-01-01', '2024-01-02', '2024-01-03'].entries()) {
        writeFileSync(join(runner, `go-${day}`), '')
        await page.waitForFunction((done) => [...document.querySelectorAll('#grid .c')].filter((cell) => cell.getAttribute('data-state') === 'success').length === done, index + 1, {timeout: 10_000})
      }

      expect((await backfill.done).code).toBe(0)
      await page.waitForFunction(() => document.querySelector('#state')?.textContent === 'success', undefined, {timeout: 10_000})
      expect(await page.evaluate(() => (window as unknown as {sameDocument?: boolean}).sameDocument)).toBe(true)
    } finally {
      await browser.close()
      server.child.kill('SIGTERM')
    }

    expect((await server.done).code).toBe(0)
  }, MANY_COMMANDS_MS)

  it('stops a backfill that loses its database as Ctrl-C would, keeping what it recorded before', async () => {
    const own = await startPostgres()
    try {
      const db = own.newDatabase()
      const root = machine('gated', gated)
      const backfill = startCli(['dags', 'backfill', 'gated', '-s', '2024-01-01', '-e', '2024-01-04', '--db', db], {cwd: root})
      started.push(backfill.child.pid as number)
      await waitFor(() => lines(join(root, 'tries.txt')).length === 2)
      own.goAway()
      const stopped = await backfill.done
      expect(stopped.code).toBe(1)
      expect(stopped.stderr).toContain('STATE_DB_UNREACHABLE')
      expect(stopped.stderr).not.toMatch(/^\s+at /m)

      own.returnAgain()
      // What it recorded reads as the next backfill will find it: started, cut short, nothing left running.
      const {runs} = json(root, db, 'dags', 'list-runs', 'gated')
      expect(runs.length).toBeGreaterThan(0)
      expect(runs.map((run: {state: string}) => run.state)).not.toContain('running')
      expect(json(root, db, 'backfills', 'show', '1').state).toBe('interrupted')
      // The next backfill runs the two dates again that the lost one had started, and the two it had not.
      writeFileSync(join(root, 'go'), '')
      expect(cli(root, db, 'dags', 'backfill', 'gated', '-s', '2024-01-01', '-e', '2024-01-04').code).toBe(0)
    } finally {
      own.stop()
    }
  }, MANY_COMMANDS_MS)

  it('never loads pg for a command on the embedded store', () => {
    const root = machine('month', month)
    // A module hook that refuses to resolve pg: a command that loads it fails.
    writeFileSync(join(root, 'hooks.mjs'), `export async function resolve(specifier, context, next) {
      if (specifier === 'pg' || specifier.startsWith('pg/')) throw new Error('pg was loaded')
      return next(specifier, context)
    }`)
    writeFileSync(join(root, 'no-pg.mjs'), "import {register} from 'node:module'\nregister('./hooks.mjs', import.meta.url)\n")
    const withoutPg = (...args: string[]) => spawnSync(process.execPath, ['--import', './no-pg.mjs', BIN, ...args], {cwd: root, encoding: 'utf8', env: {...process.env, CI: 'true', NO_COLOR: '1'}})
    for (const command of [['dags', 'backfill', 'month', '-s', '2024-01-01', '-e', '2024-01-03'], ['dags', 'list-runs', 'month'], ['backfills', 'show', '1'], ['dags', 'list']]) {
      const result = withoutPg(...command)
      expect([result.status, result.stderr]).toEqual([0, ''])
    }

    const onDatabase = withoutPg('dags', 'list-runs', 'month', '--db', postgres.newDatabase())
    expect(onDatabase.status).not.toBe(0)
    expect(onDatabase.stderr).toContain('pg was loaded')
  })

  it('refuses a database it cannot reach in one line naming host, port and database, never the password', () => {
    const root = machine('month', month)
    const cases = [
      `postgresql://updraft:s3cret@localhost:1/nowhere`,
      postgres.url('no_such_database').replace('updraft@', 'updraft:s3cret@'),
      'postgres://updraft:s3cret@[not a host/x',
    ]
    for (const db of cases) {
      const begun = Date.now()
      const result = cli(root, db, 'dags', 'list-runs', 'month')
      expect(Date.now() - begun).toBeLessThan(5000 + 2000)
      expect(result.code).toBe(1)
      expect(result.stderr).toContain('STATE_DB_UNREACHABLE')
      expect(result.stderr).not.toContain('s3cret')
    }

    const missing = cli(root, cases[1] as string, 'dags', 'list-runs', 'month')
    expect(missing.stderr).toMatch(/database no_such_database/)
    expect(cli(root, cases[0] as string, 'dags', 'list-runs', 'month').stderr).toMatch(/host localhost, port 1, database nowhere/)
  })
})
