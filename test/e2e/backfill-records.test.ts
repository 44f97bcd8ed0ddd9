import {describe, expect, it} from '@jest/globals'
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {alive} from '../helpers/processes.js'
import {runCli, startCli} from '../helpers/run-cli.js'
import {readState, waitFor} from '../helpers/state-file.js'
import {failingMonth} from '../helpers/sample-dags.js'
import {tmpProject} from '../helpers/tmp-project.js'

const cli = (root: string, ...args: string[]) => runCli(args, {cwd: root})
const json = (root: string, ...args: string[]) => JSON.parse(cli(root, ...args, '--json').stdout)

const month = failingMonth
// Each try records its shell's pid, so a test can see that a stop leaves none behind.
const slow = (seconds: number) => `export default {schedule_interval: '@daily', start_date: '2024-01-01', max_active_runs: 1,
  tasks: [{task_id: 'nap', bash_command: 'mkdir -p ../pids; echo $$ > ../pids/{{ ds }}; echo {{ ds }} >> ../tries.txt; sleep ${seconds}'}]}`
const tries = (root: string) => (existsSync(join(root, 'tries.txt')) ? readFileSync(join(root, 'tries.txt'), 'utf8').trim().split('\n') : [])
const pidsOf = (root: string) => ['2024-01-01', '2024-01-02', '2024-01-03'].map((day) => join(root, 'pids', day)).filter((path) => existsSync(path)).map((path) => Number(readFileSync(path, 'utf8')))

describe('backfills as records (§11)', () => {
  it('records every real backfill under the next id, and none for a dry run', () => {
    const root = tmpProject({'dags/month.mjs': month})
    expect(cli(root, 'dags', 'backfill', 'month', '-s', '2024-01-01', '--dry-run').code).toBe(0)
    expect(json(root, 'backfills', 'list')).toEqual([])
    const first = cli(root, 'dags', 'backfill', 'month', '-s', '2024-01-01', '-e', '2024-01-31', '--json')
    expect(first.code).toBe(1)
    expect(JSON.parse(first.stdout).backfill_id).toBe(1)
    expect(JSON.parse(cli(root, 'dags', 'backfill', 'month', '-s', '2024-02-01', '--json').stdout).backfill_id).toBe(2)

    const listed = json(root, 'backfills', 'list')
    expect(listed.map((record: {id: number; state: string}) => [record.id, record.state])).toEqual([
      [2, 'success'],
      [1, 'failed'],
    ])
    expect(listed[1]).toMatchObject({
      counts: {failed: 1, success: 152, upstream_failed: 2},
      dag_id: 'month',
      host: expect.any(String),
      pid: expect.any(Number),
      request: {dates: {kind: 'range', start: {text: '2024-01-01'}, end: {text: '2024-01-31'}}, reset_dagruns: false},
    })
    expect(listed[1].run_ids).toHaveLength(31)
    expect(json(root, 'backfills', 'list', '--state', 'failed').map((record: {id: number}) => record.id)).toEqual([1])
    expect(json(root, 'backfills', 'list', '--dag-id', 'other')).toEqual([])
    expect(cli(root, 'backfills', 'list').stdout).toMatch(/1\s+month\s+2024-01-01 → 2024-01-31\s+failed\s+31\/31/)
  })

  it('shows a record with its runs, and the task × date grid with letters under NO_COLOR', () => {
    const root = tmpProject({'dags/month.mjs': month})
    cli(root, 'dags', 'backfill', 'month', '-s', '2024-01-01', '-e', '2024-01-31')
    const shown = json(root, 'backfills', 'show', '1')
    expect(shown.runs).toHaveLength(31)
    expect(shown.runs[16]).toEqual({
      logical_date: '2024-01-16T23:00:00.000Z',
      partition_key: null,
      run_id: 'backfill__2024-01-16T23:00:00+00:00',
      state: 'failed',
      task_instances: {aggregate: 'failed', clean: 'success', extract: 'success', load: 'upstream_failed', notify: 'upstream_failed'},
    })
    const text = runCli(['backfills', 'show', '1'], {cwd: root, env: {COLUMNS: '120'}}).stdout
    expect(text).toContain('Backfill 1 of month  failed')
    const row = (task: string) => text.split('\n').find((line) => line.startsWith(`${task} `))
    expect(row('aggregate')).toBe(`aggregate  ${'S'.repeat(16)}F${'S'.repeat(14)}`)
    expect(row('notify')).toBe(`notify     ${'S'.repeat(16)}U${'S'.repeat(14)}`)
    expect(text).toMatch(/2024-01-01\s+2024-01-31/)
    expect(text).toContain('S success  F failed  U upstream_failed')
    const missing = cli(root, 'backfills', 'show', '7')
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain('Code: BACKFILL_NOT_FOUND')
  })

  it('labels the runs a backfill has not started yet by their dates, in the grid and in --json', () => {
    const root = tmpProject({'dags/month.mjs': month})
    expect(cli(root, 'backfills', 'create', 'month', '-s', '2024-01-01', '-e', '2024-01-31').code).toBe(0)
    const shown = json(root, 'backfills', 'show', '1')
    expect(shown.runs.at(-1)).toMatchObject({logical_date: '2024-01-30T23:00:00.000Z', partition_key: null, state: 'none'})
    const text = runCli(['backfills', 'show', '1'], {cwd: root, env: {COLUMNS: '120'}}).stdout
    expect(text).toMatch(/2024-01-01\s+2024-01-31/)
  })

  it('cancels a running backfill from another shell: children killed, TIs back to none, exit 1, record cancelled; resume finishes it', async () => {
    const root = tmpProject({'dags/slow.mjs': slow(30)})
    const backfill = startCli(['dags', 'backfill', 'slow', '-s', '2024-01-01', '-e', '2024-01-03'], {cwd: root})
    await waitFor(() => pidsOf(root).length === 1)
    const [sleeper] = pidsOf(root)
    const started = Date.now()
    const cancel = runCli(['backfills', 'cancel', '1'], {cwd: root})
    const stopped = await backfill.done
    expect(Date.now() - started).toBeLessThan(2000)
    expect(cancel.code).toBe(0)
    expect(cancel.stdout).toContain('Cancelled backfill 1 of slow')
    expect(stopped.code).toBe(1)
    expect(stopped.stdout).toContain('Backfill of slow was cancelled by updraft backfills cancel')
    expect(alive(sleeper as number)).toBe(false)
    expect(json(root, 'backfills', 'show', '1')).toMatchObject({state: 'cancelled'})
    const nap = readState(root).dags.slow?.runs['backfill__2024-01-01T00:00:00+00:00']?.task_instances.nap
    expect(nap).toMatchObject({reason: 'cancelled', state: 'none'})
    const again = cli(root, 'backfills', 'cancel', '1')
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('Code: BACKFILL_NOT_RUNNING')

    writeFileSync(join(root, 'dags', 'slow.mjs'), slow(0))
    const resumed = runCli(['backfills', 'resume', '1', '--json'], {cwd: root})
    expect(resumed.code).toBe(0)
    expect(JSON.parse(resumed.stdout).backfill_id).toBe(1)
    const record = json(root, 'backfills', 'show', '1')
    expect(record).toMatchObject({counts: {success: 3}, state: 'success'})
    expect(Object.keys(record)).toEqual(['id', 'dag_id', 'state', 'created_at', 'finished_at', 'request', 'run_ids', 'counts', 'pid', 'host', 'runs'])
    const stored = readState(root).dags.slow?.backfills?.['1']
    expect(stored?.history.map((attempt) => attempt.state)).toEqual(['cancelled', 'success'])
    expect(cli(root, 'backfills', 'show', '1').stdout).toContain('(2 goes: resumed 1 time(s))')
    expect(json(root, 'backfills', 'list')).toHaveLength(1)
    expect(tries(root)).toEqual(['2024-01-01', '2024-01-01', '2024-01-02', '2024-01-03'])
  })

  it('reads a backfill whose process was killed as interrupted, and Ctrl-C records it interrupted', async () => {
    const root = tmpProject({'dags/slow.mjs': slow(30)})
    const killed = startCli(['dags', 'backfill', 'slow', '-s', '2024-01-01'], {cwd: root})
    await waitFor(() => pidsOf(root).length === 1)
    killed.child.kill('SIGKILL')
    await killed.done
    await waitFor(() => !alive(pidsOf(root)[0] as number), 5000)
    expect(json(root, 'backfills', 'list')[0]).toMatchObject({id: 1, state: 'interrupted'})

    const stopped = startCli(['dags', 'backfill', 'slow', '-s', '2024-01-02'], {cwd: root})
    await waitFor(() => pidsOf(root).length === 2)
    stopped.child.kill('SIGINT')
    expect((await stopped.done).code).toBe(130)
    expect(json(root, 'backfills', 'show', '2')).toMatchObject({state: 'interrupted'})
  })

  it('resumes a --reset-dagruns backfill without clearing again what it already ran', async () => {
    const root = tmpProject({'dags/slow.mjs': slow(0)})
    expect(cli(root, 'dags', 'backfill', 'slow', '-s', '2024-01-01', '-e', '2024-01-03').code).toBe(0)
    writeFileSync(join(root, 'dags', 'slow.mjs'), slow(0).replace('sleep 0', 'test {{ ds }} = 2024-01-01 || sleep 30'))
    const reset = startCli(['dags', 'backfill', 'slow', '-s', '2024-01-01', '-e', '2024-01-03', '--reset-dagruns', '-y'], {cwd: root})
    await waitFor(() => tries(root).length === 5)
    expect(cli(root, 'backfills', 'cancel', '2').code).toBe(0)
    await reset.done

    writeFileSync(join(root, 'dags', 'slow.mjs'), slow(0))
    expect(cli(root, 'backfills', 'resume', '2').code).toBe(0)
    // 2024-01-01 ran once more under the reset, and not again on resume; the others ran again to the end.
    expect(tries(root)).toEqual(['2024-01-01', '2024-01-02', '2024-01-03', '2024-01-01', '2024-01-02', '2024-01-02', '2024-01-03'])
    expect(readState(root).dags.slow?.runs['backfill__2024-01-01T00:00:00+00:00']?.task_instances.nap?.try_number).toBe(2)
  })
})

describe('dags grid (§13)', () => {
  it('shows the recorded states over a range, every date a column, as text and JSON', () => {
    const root = tmpProject({'dags/month.mjs': month})
    cli(root, 'dags', 'backfill', 'month', '-s', '2024-01-15', '-e', '2024-01-18')
    const grid = json(root, 'dags', 'grid', 'month', '-s', '2024-01-14', '-e', '2024-01-18')
    expect(grid.tasks).toEqual(['extract', 'aggregate', 'clean', 'load', 'notify'])
    expect(grid.runs.map((run: {state: string}) => run.state)).toEqual(['none', 'success', 'success', 'failed', 'success'])
    const text = cli(root, 'dags', 'grid', 'month', '-s', '2024-01-14', '-e', '2024-01-18').stdout
    expect(text.split('\n').find((line) => line.startsWith('load '))).toBe('load       .SSUS')
    expect(text).toContain('5 run(s) × 5 task(s)')
  })
})

describe('record ids', () => {
  it('are unique across DAGs sharing a state file, even for backfills started at the same moment', async () => {
    const quick = (name: string) => `export default {dag_id: '${name}', schedule_interval: '@daily', start_date: '2024-01-01', tasks: [{task_id: 't', bash_command: 'sleep 0.2'}]}`
    const root = tmpProject({'dags/one.mjs': quick('one'), 'dags/three.mjs': quick('three'), 'dags/two.mjs': quick('two')})
    const started = ['one', 'two', 'three'].map((dagId) => startCli(['dags', 'backfill', dagId, '-s', '2024-01-01', '-e', '2024-01-03', '--json'], {cwd: root}))
    const results = await Promise.all(started.map((backfill) => backfill.done))
    expect(results.map((result) => result.code)).toEqual([0, 0, 0])
    const ids = results.map((result) => JSON.parse(result.stdout).backfill_id).sort()
    expect(ids).toEqual([1, 2, 3])
    expect(json(root, 'backfills', 'list').map((record: {dag_id: string; id: number}) => record.id)).toEqual([3, 2, 1])
  })
})
