import {describe, expect, it} from '@jest/globals'
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {reapAfterAll} from '../helpers/processes.js'
import {runCli, startCli} from '../helpers/run-cli.js'
import {folderSnapshot, waitFor} from '../helpers/state-file.js'
import {tmpProject} from '../helpers/tmp-project.js'

/**
 * Paused on creation, so `scheduler --once` starts no scheduled runs of it: only the requests run, as they do for a
 * paused DAG (§18). Each try notes its date in ../tries.txt, and waits for ../go when told to.
 */
const sales = (gated: boolean) => `export default {dag_id: 'sales', schedule_interval: '@daily', start_date: '2024-01-01', is_paused_upon_creation: true, max_active_runs: 1,
  tasks: [{task_id: 'extract', bash_command: 'echo "{{ ds }} $(date +%s%N)" >> ../tries.txt${gated ? '; while [ ! -e ../go ]; do sleep 0.05; done' : ''}'}]}`

const cli = (root: string, ...args: string[]) => runCli(args, {cwd: root})
const json = (root: string, ...args: string[]) => JSON.parse(cli(root, ...args, '--json').stdout)
const tries = (root: string) => (existsSync(join(root, 'tries.txt')) ? readFileSync(join(root, 'tries.txt'), 'utf8').trim().split('\n').map((line) => line.split(' ')[0]) : [])
const stateOf = (root: string, id: number) => (json(root, 'backfills', 'show', String(id)) as {state: string}).state
const started = reapAfterAll()

describe('backfill requests (§18)', () => {
  it('backfill create records a queued request and returns; scheduler --once runs it, for a paused DAG too', () => {
    const root = tmpProject({'dags/sales.mjs': sales(false)})
    const created = cli(root, 'backfill', 'create', '--dag-id', 'sales', '--from-date', '2024-01-01', '--to-date', '2024-01-03')
    expect(created.code).toBe(0)
    expect(created.stdout).toContain('Backfill 1 of sales queued: 3 run(s).')
    expect(json(root, 'backfills', 'create', 'sales', '-s', '2024-01-04', '-e', '2024-01-05', '-t', '^extract$')).toMatchObject({dag_id: 'sales', id: 2, state: 'queued'})
    expect(json(root, 'backfills', 'list', '--state', 'queued').map((record: {id: number}) => record.id)).toEqual([2, 1])
    expect(cli(root, 'backfills', 'show', '1').stdout).toMatch(/process\s+none yet: updraft scheduler runs it/)
    expect(cli(root, 'backfills', 'list').stdout).toContain('2024-01-04 → 2024-01-05 · -t ^extract$')
    expect(tries(root)).toEqual([])

    const scheduler = cli(root, 'scheduler', '--once')
    expect(scheduler.code).toBe(0)
    expect(scheduler.stdout).toContain('request 1: launching a backfill of sales')
    expect(scheduler.stdout).toContain('request 2: backfill of sales succeeded')
    expect(tries(root).sort()).toEqual(['2024-01-01', '2024-01-02', '2024-01-03', '2024-01-04', '2024-01-05'])
    expect([stateOf(root, 1), stateOf(root, 2)]).toEqual(['success', 'success'])
    // Once run, a request is a record like any other: the scheduler does not run it again.
    const idle = cli(root, 'scheduler', '--once').stdout
    expect(idle).not.toContain('launching')
    expect(idle).toContain('Nothing to start: no due run of an unpaused DAG, no sensor asked for a backfill, and no request is queued.')
    expect(tries(root)).toHaveLength(5)
  })

  it('refuses what dags backfill refuses, with the same codes, and records nothing', () => {
    const root = tmpProject({'dags/sales.mjs': sales(false)})
    const before = folderSnapshot(root)
    const refusals = [
      [['backfill', 'create', '--from-date', '2024-01-01', '--to-date', '2024-01-02'], 2, 'USAGE'],
      [['backfill', 'create', '--dag-id', 'sales', '--from-date', '2024-01-01', '--to-date', '2024-01-02', '--reprocess-behavior', 'sometimes'], 2, 'USAGE'],
      [['backfill', 'create', '--dag-id', 'sales', '--from-date', '2024-01-05', '--to-date', '2024-01-01'], 2, 'DATE_RANGE_INVERTED'],
      [['backfill', 'create', '--dag-id', 'sales', '--from-date', '2024-02-30', '--to-date', '2024-03-01'], 2, 'INVALID_DATE'],
      [['backfill', 'create', '--dag-id', 'nope', '--from-date', '2024-01-01', '--to-date', '2024-01-02'], 1, 'DAG_NOT_FOUND'],
      [['backfills', 'create', 'sales', '-s', '2024-01-01', '-e', '2024-01-02', '-t', '^nothing$'], 2, 'NO_TASK_MATCHES'],
    ] as const
    for (const [args, exit, code] of refusals) {
      const result = cli(root, ...args)
      expect([args.join(' '), result.code, result.stderr.split('\n')[1]]).toEqual([args.join(' '), exit, `Code: ${code}`])
    }

    expect(cli(root, 'backfill', 'create', '--dag-id', 'sales', '--from-date', '2024-01-05', '--to-date', '2024-01-01').stderr.split('\n')[0]).toBe('Error: Expected --from-date to be on or before --to-date, got 2024-01-05 after 2024-01-01.')
    const inverted = cli(root, 'dags', 'backfill', 'sales', '-s', '2024-01-05', '-e', '2024-01-01')
    expect([inverted.code, inverted.stderr.split('\n')[1]]).toEqual([2, 'Code: DATE_RANGE_INVERTED'])

    expect(folderSnapshot(root)).toEqual(before)
  })

  it('two schedulers on one store launch each request once', async () => {
    const root = tmpProject({'dags/sales.mjs': sales(false)})
    for (const day of ['01', '02', '03', '04']) expect(cli(root, 'backfills', 'create', 'sales', '-D', `2024-01-${day}`).code).toBe(0)
    const schedulers = [startCli(['scheduler', '--once'], {cwd: root}), startCli(['scheduler', '--once'], {cwd: root})]
    started.push(...schedulers.map((scheduler) => scheduler.child.pid as number))
    const results = await Promise.all(schedulers.map((scheduler) => scheduler.done))
    expect(results.map((result) => result.code)).toEqual([0, 0])
    const launches = results.flatMap((result) => result.stdout.split('\n').filter((line) => line.includes('launching a backfill')))
    expect(launches).toHaveLength(4)
    expect(tries(root).sort()).toEqual(['2024-01-01', '2024-01-02', '2024-01-03', '2024-01-04'])
  }, 60_000)

  it('pauses a running backfill with a task in flight: it finishes, nothing new starts, and unpause carries on', async () => {
    const root = tmpProject({'dags/sales.mjs': sales(true)})
    const backfill = startCli(['dags', 'backfill', 'sales', '-s', '2024-01-01', '-e', '2024-01-02'], {cwd: root})
    started.push(backfill.child.pid as number)
    await waitFor(() => tries(root).length === 1)
    const paused = cli(root, 'backfills', 'pause', '1')
    expect(paused.code).toBe(0)
    expect(paused.stdout).toContain('Backfill 1 of sales is paused')
    expect(json(root, 'backfills', 'list', '--state', 'paused')).toHaveLength(1)
    writeFileSync(join(root, 'go'), '')
    await waitFor(() => (json(root, 'backfills', 'show', '1') as {runs: Array<{state: string}>}).runs[0]?.state === 'success')
    await new Promise((resolve) => setTimeout(resolve, 1000))
    expect(tries(root)).toEqual(['2024-01-01'])
    expect(stateOf(root, 1)).toBe('paused')

    const unpausedAt = Date.now()
    expect(cli(root, 'backfills', 'unpause', '1').code).toBe(0)
    const result = await backfill.done
    expect(result.code).toBe(0)
    expect(result.stdout).toContain('Paused: no new task instance starts; running ones finish.')
    expect(tries(root)).toEqual(['2024-01-01', '2024-01-02'])
    const secondStart = Number(BigInt(readFileSync(join(root, 'tries.txt'), 'utf8').trim().split('\n')[1]?.split(' ')[1] as string) / 1_000_000n)
    expect(secondStart).toBeGreaterThanOrEqual(unpausedAt - 50)
    expect(stateOf(root, 1)).toBe('success')
  }, 60_000)

  it('pauses, unpauses and cancels a queued request; a cancelled one never runs', () => {
    const root = tmpProject({'dags/sales.mjs': sales(false)})
    expect(cli(root, 'backfills', 'create', 'sales', '-D', '2024-01-01').code).toBe(0)
    expect(cli(root, 'backfills', 'create', 'sales', '-D', '2024-01-02').code).toBe(0)
    expect(cli(root, 'backfills', 'pause', '1').stdout).toContain('is paused')
    expect(cli(root, 'scheduler', '--once').stdout).not.toContain('request 1')
    expect(tries(root)).toEqual(['2024-01-02'])
    expect(cli(root, 'backfills', 'unpause', '1').stdout).toContain('is queued')
    expect(json(root, 'backfills', 'create', 'sales', '-D', '2024-01-03')).toMatchObject({id: 3, state: 'queued'})
    const cancelled = cli(root, 'backfills', 'cancel', '3')
    expect(cancelled.code).toBe(0)
    expect(stateOf(root, 3)).toBe('cancelled')
    expect(cli(root, 'scheduler', '--once').code).toBe(0)
    expect(tries(root).sort()).toEqual(['2024-01-01', '2024-01-02'])
    expect([stateOf(root, 1), stateOf(root, 3)]).toEqual(['success', 'cancelled'])
    const early = cli(root, 'backfills', 'create', 'sales', '-D', '2024-01-04')
    expect(early.code).toBe(0)
    const resumed = cli(root, 'backfills', 'resume', '4')
    expect([resumed.code, resumed.stderr.split('\n')[1]]).toEqual([1, 'Code: BACKFILL_NOT_STARTED'])
    const again = cli(root, 'backfills', 'pause', '3')
    expect([again.code, again.stderr.split('\n')[1]]).toEqual([1, 'Code: BACKFILL_NOT_RUNNING'])
  }, 60_000)

  it('a request whose scheduler was killed is carried on by the next scheduler', async () => {
    const root = tmpProject({'dags/sales.mjs': sales(true)})
    expect(cli(root, 'backfills', 'create', 'sales', '-s', '2024-01-01', '-e', '2024-01-02').code).toBe(0)
    const first = startCli(['scheduler'], {cwd: root})
    started.push(first.child.pid as number)
    await waitFor(() => tries(root).length === 1)
    first.child.kill('SIGKILL')
    await first.done
    expect(stateOf(root, 1)).toBe('interrupted')
    writeFileSync(join(root, 'go'), '')
    const second = cli(root, 'scheduler', '--once')
    expect(second.code).toBe(0)
    expect(second.stdout).toContain('request 1: carrying on a backfill of sales')
    expect(stateOf(root, 1)).toBe('success')
    expect(tries(root)).toEqual(['2024-01-01', '2024-01-01', '2024-01-02'])
  }, 60_000)

  it('--wait runs the request here with the usual output and exit code', () => {
    const root = tmpProject({'dags/sales.mjs': sales(false)})
    const waited = cli(root, 'backfill', 'create', '--dag-id', 'sales', '--from-date', '2024-01-01', '--to-date', '2024-01-02', '--wait')
    expect(waited.code).toBe(0)
    expect(waited.stdout).toContain('Backfill of sales succeeded')
    expect(stateOf(root, 1)).toBe('success')
  })
})
