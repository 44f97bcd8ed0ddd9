import {afterAll, beforeAll, describe, expect, it} from '@jest/globals'
import {type ChildProcess, spawn} from 'node:child_process'
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {reapAfterAll} from '../helpers/processes.js'
import {startPostgres} from '../helpers/postgres-server.js'
import {startRedis} from '../helpers/redis-server.js'
import {BIN, runCli, startCli} from '../helpers/run-cli.js'
import {folderSnapshot, waitFor} from '../helpers/state-file.js'
import {tmpProject} from '../helpers/tmp-project.js'

/** Each try writes its start and end (ns) to a ledger in the folder above its DAG file; it ends once ../go exists. */
const pooled = (dagId: string, pool: string, slots = 1) => `export default {dag_id: '${dagId}', schedule_interval: '@daily', start_date: '2024-01-01',
  default_args: {pool: '${pool}', pool_slots: ${slots}},
  tasks: [{task_id: 'query', bash_command: 'echo "start $(date +%s%N) {{ dag_id }} {{ ds }}" >> ../ledger.txt; while [ ! -e ../go ]; do sleep 0.05; done; sleep 0.3; echo "end $(date +%s%N) {{ dag_id }} {{ ds }}" >> ../ledger.txt'}]}`

/** Holds its slot until the test writes ../go. */
const holding = (dagId: string, pool: string) => `export default {dag_id: '${dagId}', schedule_interval: '@daily', start_date: '2024-01-01', default_args: {pool: '${pool}'},
  tasks: [{task_id: 'hold', bash_command: 'echo started >> ../held.txt; while [ ! -e ../go ]; do sleep 0.05; done'}]}`

/** The most tries that ran at once, and how many ran, from a ledger of starts and ends. */
function concurrencyOf(path: string): {peak: number; tries: number} {
  const events = readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split(' '))
    .map(([kind, at]) => ({at: BigInt(at as string), delta: kind === 'start' ? 1 : -1}))
    .sort((a, b) => (a.at === b.at ? a.delta - b.delta : a.at < b.at ? -1 : 1))
  let running = 0
  let peak = 0
  for (const event of events) peak = Math.max(peak, (running += event.delta))
  return {peak, tries: events.filter((event) => event.delta === 1).length}
}

const cli = (root: string, ...args: string[]) => runCli(args, {cwd: root})
const poolsOf = (root: string, ...db: string[]) => JSON.parse(cli(root, 'pools', 'list', '--json', ...db).stdout) as Array<Record<string, unknown>>
const started = reapAfterAll()

describe('pools (§17)', () => {
  it('sets, lists and deletes pools; default_pool always exists; bad input is refused with the state untouched', () => {
    const root = tmpProject()
    expect(poolsOf(root)).toEqual([{description: 'Default pool', name: 'default_pool', open: 128, queued: 0, running: 0, slots: 128, waiting: 0}])
    const set = cli(root, 'pools', 'set', 'warehouse', '4', '--description', '4 concurrent queries')
    expect(set.code).toBe(0)
    expect(set.stdout).toMatch(/warehouse\s+4\s+0\s+0\s+4\s+0\s+4 concurrent queries/)
    expect(cli(root, 'pools', 'set', 'default_pool', '8').code).toBe(0)
    expect(poolsOf(root).map((pool) => [pool.name, pool.slots, pool.open])).toEqual([
      ['default_pool', 8, 8],
      ['warehouse', 4, 4],
    ])
    const before = folderSnapshot(join(root, '.updraft'))
    const refusals = [
      [['pools', 'delete', 'default_pool'], 1, 'POOL_PROTECTED'],
      [['pools', 'delete', 'nope'], 1, 'UNKNOWN_POOL'],
      [['pools', 'set', 'warehouse', '0'], 2, 'INVALID_POOL'],
      [['pools', 'set', 'warehouse', 'many'], 2, 'INVALID_POOL'],
      [['pools', 'set', 'bad name', '3'], 2, 'INVALID_POOL'],
    ] as const
    for (const [args, exit, code] of refusals) {
      const result = cli(root, ...args)
      expect([result.code, result.stderr.split('\n')[1]]).toEqual([exit, `Code: ${code}`])
      expect(result.stderr.split('\n')[0]).toMatch(/^Error: Expected .+, got .+/)
    }

    expect(folderSnapshot(join(root, '.updraft'))).toEqual(before)
    expect(cli(root, 'pools', 'delete', 'warehouse').code).toBe(0)
    expect(poolsOf(root).map((pool) => pool.name)).toEqual(['default_pool'])
  })

  it('refuses a backfill naming an unknown pool, or needing more slots than its pool has, before anything runs', () => {
    const root = tmpProject({'dags/needs_many.mjs': pooled('needs_many', 'small', 3), 'dags/unknown.mjs': pooled('unknown', 'nowhere')})
    expect(cli(root, 'pools', 'set', 'small', '2').code).toBe(0)
    const before = folderSnapshot(join(root, '.updraft'))
    const unknown = cli(root, 'dags', 'backfill', 'unknown', '-s', '2024-01-01', '-e', '2024-01-02')
    expect([unknown.code, unknown.stderr.split('\n')[1]]).toEqual([1, 'Code: UNKNOWN_POOL'])
    expect(unknown.stderr).toContain('got nowhere')
    const tooSmall = cli(root, 'dags', 'backfill', 'needs_many', '-s', '2024-01-01', '-e', '2024-01-02', '--dry-run')
    expect([tooSmall.code, tooSmall.stderr.split('\n')[1]]).toEqual([1, 'Code: POOL_TOO_SMALL'])
    expect(tooSmall.stderr).toContain('got pool_slots 3')
    expect(folderSnapshot(join(root, '.updraft'))).toEqual(before)
    expect(existsSync(join(root, 'ledger.txt'))).toBe(false)
  })

  it('shares a pool between two backfills: never more tries at once than its slots, both finish, and the waits are said', async () => {
    const root = tmpProject({'dags/first.mjs': pooled('first', 'warehouse'), 'dags/second.mjs': pooled('second', 'warehouse')})
    expect(cli(root, 'pools', 'set', 'warehouse', '2').code).toBe(0)
    const backfills = ['first', 'second'].map((dagId) => startCli(['dags', 'backfill', dagId, '-s', '2024-01-01', '-e', '2024-01-04'], {cwd: root}))
    started.push(...backfills.map((backfill) => backfill.child.pid as number))
    await waitFor(() => poolsOf(root).some((pool) => pool.name === 'warehouse' && pool.running === 2 && pool.waiting === 6))
    writeFileSync(join(root, 'go'), '')
    const results = await Promise.all(backfills.map((backfill) => backfill.done))
    expect(results.map((result) => result.code)).toEqual([0, 0])
    expect(concurrencyOf(join(root, 'ledger.txt'))).toEqual({peak: 2, tries: 8})
    expect(results.map((result) => result.stdout).join('\n')).toMatch(/query waiting for pool warehouse \(2\/2 in use\)/)
    expect(poolsOf(root).find((pool) => pool.name === 'warehouse')).toMatchObject({open: 2, queued: 0, running: 0, waiting: 0})
  }, 60_000)

  it('frees the slots of a backfill killed with -9, and --dry-run says what would wait while they are held', async () => {
    const root = tmpProject({'dags/holder.mjs': holding('holder', 'one'), 'dags/next.mjs': pooled('next', 'one')})
    expect(cli(root, 'pools', 'set', 'one', '1').code).toBe(0)
    const holder = startCli(['dags', 'backfill', 'holder', '-s', '2024-01-01', '-e', '2024-01-01'], {cwd: root})
    started.push(holder.child.pid as number)
    await waitFor(() => existsSync(join(root, 'held.txt')))
    await waitFor(() => poolsOf(root).some((pool) => pool.name === 'one' && pool.running === 1))
    const dryRun = cli(root, 'dags', 'backfill', 'next', '-s', '2024-01-01', '-e', '2024-01-02', '--dry-run')
    expect(dryRun.stdout).toContain('query: waiting for pool one (1/1 in use)')
    const dryJson = JSON.parse(cli(root, 'dags', 'backfill', 'next', '-s', '2024-01-01', '-e', '2024-01-02', '--dry-run', '--json').stdout)
    expect(dryJson.pools).toEqual([{full: true, pool: 'one', slots: 1, tasks: ['query'], used: 1}])
    holder.child.kill('SIGKILL')
    await holder.done
    writeFileSync(join(root, 'go'), '')
    // The holder's own try ends with the go file; the slot is free before that, with its owner gone.
    expect(poolsOf(root).find((pool) => pool.name === 'one')).toMatchObject({open: 1, running: 0})
    const next = cli(root, 'dags', 'backfill', 'next', '-s', '2024-01-01', '-e', '2024-01-02')
    expect(next.code).toBe(0)
    expect(concurrencyOf(join(root, 'ledger.txt'))).toEqual({peak: 1, tries: 2})
  }, 60_000)
})

describe('pools across machines (§17)', () => {
  let redis: {stop: () => void; url: string}
  let postgres: Awaited<ReturnType<typeof startPostgres>>
  const workers: ChildProcess[] = []
  beforeAll(async () => {
    ;[redis, postgres] = await Promise.all([startRedis(), startPostgres()])
  })
  afterAll(() => {
    for (const worker of workers) worker.kill('SIGKILL')
    redis.stop()
    postgres.stop()
  })

  it('holds a pool across two backfills whose tries run on workers, with state in PostgreSQL', async () => {
    // Two machines that share only the DAG files, the database and Redis.
    const ledger = tmpProject()
    const machines = ['first', 'second'].map((dagId) => tmpProject({[`dags/${dagId}.mjs`]: pooled(dagId, 'warehouse').replaceAll('../', `${ledger}/`)}))
    const db = postgres.newDatabase()
    writeFileSync(join(ledger, 'go'), '')
    expect(cli(machines[0] as string, 'pools', 'set', 'warehouse', '2', '--db', db).code).toBe(0)
    for (const [index, root] of machines.entries()) {
      const worker = spawn(process.execPath, [BIN, 'worker', '--concurrency', '3', '--queue', `pools${index}`, '--redis-url', redis.url], {cwd: root, stdio: 'ignore'})
      workers.push(worker)
    }

    const backfills = ['first', 'second'].map((dagId, index) =>
      startCli(['dags', 'backfill', dagId, '-s', '2024-01-01', '-e', '2024-01-03', '--db', db, '--executor', 'bullmq', '--queue', `pools${index}`, '--redis-url', redis.url], {cwd: machines[index] as string}),
    )
    started.push(...backfills.map((backfill) => backfill.child.pid as number))
    const results = await Promise.all(backfills.map((backfill) => backfill.done))
    expect(results.map((result) => result.code)).toEqual([0, 0])
    expect(concurrencyOf(join(ledger, 'ledger.txt'))).toEqual({peak: 2, tries: 6})
    expect(poolsOf(machines[1] as string, '--db', db).find((pool) => pool.name === 'warehouse')).toMatchObject({open: 2, slots: 2})
  }, 90_000)
})
