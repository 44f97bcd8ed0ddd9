import {describe, expect, it} from '@jest/globals'
import {existsSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {runCli, startCli} from '../helpers/run-cli.js'
import {linesOf, readState, waitFor} from '../helpers/state-file.js'
import {tmpProject} from '../helpers/tmp-project.js'

const backfill = (root: string, ...args: string[]) => runCli(['dags', 'backfill', ...args], {cwd: root})
const json = (root: string, ...args: string[]) => JSON.parse(runCli([...args, '--json'], {cwd: root}).stdout)

// Each task appends what it was given, so a test sees the context as the task saw it.
const regional = `export default {
  schedule_interval: '@daily', start_date: '2024-05-01', timezone: 'Europe/Berlin',
  partitions: ['us', 'eu', 'apac'],
  tasks: [
    {task_id: 'extract', bash_command: 'echo "{{ ds }} {{ partition_key }} $UPDRAFT_PARTITION_KEY {{ run_id }}" >> seen.txt'},
    {task_id: 'load', bash_command: 'test "$UPDRAFT_PARTITION_KEY" != "$FAIL_KEY"', upstream: ['extract'], depends_on_past: true},
  ],
}`
const weekdays = `export default {
  schedule_interval: null, partitions: ['M', 'Tu', 'W', 'Th', 'F'],
  tasks: [{task_id: 'report', bash_command: 'echo "{{ partition_key }} ds=[{{ ds }}] env=[\${UPDRAFT_DS-unset}] list=[{{ ds_list | join(",") }}]" >> seen.txt'}],
}`
const windowed = `export default {
  schedule_interval: '@daily', start_date: '2024-05-01', backfill_policy: 'single_run',
  tasks: [
    {task_id: 'query', bash_command: 'echo "{{ ds }} {{ data_interval_start }} {{ data_interval_end }} [$UPDRAFT_DS_LIST] {{ logical_dates | length }}" >> seen.txt'},
    {task_id: 'publish', bash_command: 'test ! -f broken', upstream: ['query']},
  ],
}`

describe('static partitions (§9)', () => {
  it('runs the date × key grid with the key in the template, the environment and the run id', () => {
    const root = tmpProject({'dags/regional.mjs': regional})
    const result = backfill(root, 'regional', '-s', '2024-05-01', '-e', '2024-05-02', '--from', 'eu', '--json')
    expect(result.code).toBe(0)
    const document = JSON.parse(result.stdout)
    expect(document.runs.map((run: {partition_key: string; run_id: string}) => [run.run_id, run.partition_key])).toEqual([
      ['backfill__2024-04-30T22:00:00+00:00__eu', 'eu'],
      ['backfill__2024-04-30T22:00:00+00:00__apac', 'apac'],
      ['backfill__2024-05-01T22:00:00+00:00__eu', 'eu'],
      ['backfill__2024-05-01T22:00:00+00:00__apac', 'apac'],
    ])
    expect(document.runs[0]).toMatchObject({logical_dates: ['2024-04-30T22:00:00.000Z'], state: 'success', task_instances: {extract: 'success', load: 'success'}})
    expect(linesOf(join(root, 'dags', 'seen.txt')).sort()).toEqual([
      '2024-05-01 apac apac backfill__2024-04-30T22:00:00+00:00__apac',
      '2024-05-01 eu eu backfill__2024-04-30T22:00:00+00:00__eu',
      '2024-05-02 apac apac backfill__2024-05-01T22:00:00+00:00__apac',
      '2024-05-02 eu eu backfill__2024-05-01T22:00:00+00:00__eu',
    ])
    const stored = readState(root).dags.regional?.runs['backfill__2024-05-01T22:00:00+00:00__eu']
    expect(stored).toMatchObject({logical_date: '2024-05-01T22:00:00.000Z', partition_key: 'eu', state: 'success'})
  })

  it('lists and looks up runs by date and key, and dags show lists the keys', () => {
    const root = tmpProject({'dags/regional.mjs': regional})
    expect(backfill(root, 'regional', '-s', '2024-05-01', '--partitions', 'apac,us').code).toBe(0)
    const runs = json(root, 'dags', 'list-runs', 'regional').runs
    expect(runs.map((run: {partition_key: string}) => run.partition_key)).toEqual(['us', 'apac'])
    const text = runCli(['dags', 'list-runs', 'regional'], {cwd: root}).stdout
    expect(text).toMatch(/2024-05-01\s+apac\s+success\s+backfill__2024-04-30T22:00:00\+00:00__apac/)
    const byKey = json(root, 'tasks', 'states-for-dag-run', 'regional', '2024-05-01', '--partition', 'apac')
    expect(byKey).toMatchObject({partition_key: 'apac', run_id: 'backfill__2024-04-30T22:00:00+00:00__apac', state: 'success'})
    expect(json(root, 'tasks', 'states-for-dag-run', 'regional', 'backfill__2024-04-30T22:00:00+00:00__us').partition_key).toBe('us')
    const missing = runCli(['tasks', 'states-for-dag-run', 'regional', '2024-05-01', '--partition', 'eu'], {cwd: root})
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain('Code: RUN_NOT_FOUND')
    const keyless = runCli(['tasks', 'states-for-dag-run', 'regional', '2024-05-01'], {cwd: root})
    expect(keyless.code).toBe(2)
    expect(keyless.stderr).toContain('Expected --partition KEY (us, eu, apac) with a logical date of regional')
    expect(json(root, 'dags', 'show', 'regional').partitions).toEqual(['us', 'eu', 'apac'])
    expect(runCli(['dags', 'show', 'regional'], {cwd: root}).stdout).toMatch(/partitions\s+us, eu, apac/)
  })

  it('depends_on_past looks at the previous date of the same key only', () => {
    const root = tmpProject({'dags/regional.mjs': regional})
    const failing = runCli(['dags', 'backfill', 'regional', '-s', '2024-05-01', '-e', '2024-05-02', '--partitions', 'us,eu', '--max-active-runs', '1', '--json'], {cwd: root, env: {FAIL_KEY: 'us'}})
    expect(failing.code).toBe(1)
    const states = Object.fromEntries(JSON.parse(failing.stdout).runs.map((run: {partition_key: string; run_id: string; task_instances: object}) => [`${run.run_id.slice(10, 20)} ${run.partition_key}`, run.task_instances]))
    expect(states).toEqual({
      '2024-04-30 eu': {extract: 'success', load: 'success'},
      '2024-04-30 us': {extract: 'success', load: 'failed'},
      '2024-05-01 eu': {extract: 'success', load: 'success'},
      '2024-05-01 us': {extract: 'success', load: 'upstream_failed'},
    })
    const blocked = json(root, 'tasks', 'states-for-dag-run', 'regional', '2024-05-02', '--partition', 'us').task_instances
    expect(blocked.find((ti: {task_id: string}) => ti.task_id === 'load')).toMatchObject({reason: 'depends-on-past', state: 'upstream_failed'})
  })

  it('runs a key-only DAG once per key, with no dates in its context', () => {
    const root = tmpProject({'dags/weekdays.mjs': weekdays})
    const result = backfill(root, 'weekdays', '--from', 'Tu', '--to', 'Th', '--batch-size', 'all', '-B', '--json')
    expect(result.code).toBe(0)
    expect(JSON.parse(result.stdout).runs.map((run: object) => run)).toEqual(
      ['Tu', 'W', 'Th'].map((key) => ({
        data_interval_end: null,
        data_interval_start: null,
        logical_date: null,
        logical_dates: [],
        partition_key: key,
        run_id: `backfill__${key}`,
        state: 'success',
        task_instances: {report: 'success'},
        tasks: ['report'],
      })),
    )
    expect(linesOf(join(root, 'dags', 'seen.txt')).sort()).toEqual(['Th ds=[] env=[unset] list=[]', 'Tu ds=[] env=[unset] list=[]', 'W ds=[] env=[unset] list=[]'])
    expect(json(root, 'tasks', 'states-for-dag-run', 'weekdays', 'W')).toMatchObject({logical_date: null, partition_key: 'W', run_id: 'backfill__W'})
    expect(json(root, 'tasks', 'states-for-dag-run', 'weekdays', '--partition', 'Th').run_id).toBe('backfill__Th')
    expect(backfill(root, 'weekdays', '--partitions', 'M', '--dry-run', '--json').code).toBe(0)
  })

  it('on a DAG without partitions, --from/--to and --partitions are the date flags', () => {
    const root = tmpProject({'dags/windowed.mjs': windowed})
    const asDagster = json(root, 'dags', 'backfill', 'windowed', '--from', '2024-05-01', '--to', '2024-05-03', '--batch-size', '1', '--dry-run')
    const asAirflow = json(root, 'dags', 'backfill', 'windowed', '-s', '2024-05-01', '-e', '2024-05-03', '--batch-size', '1', '--dry-run')
    expect(asDagster).toEqual(asAirflow)
    expect(asDagster.runs).toHaveLength(3)
    const listed = json(root, 'dags', 'backfill', 'windowed', '--partitions', '2024-05-01,2024-05-03', '--dry-run')
    expect(listed.runs.map((run: {logical_dates: string[]}) => run.logical_dates)).toEqual([['2024-05-01T00:00:00.000Z'], ['2024-05-03T00:00:00.000Z']])
  })
})

describe('backfill policies (§10)', () => {
  it('runs a single_run window once, with the whole window in its context', () => {
    const root = tmpProject({'dags/windowed.mjs': windowed})
    const result = backfill(root, 'windowed', '-s', '2024-05-01', '-e', '2024-05-07', '--json')
    expect(result.code).toBe(0)
    const [run] = JSON.parse(result.stdout).runs
    expect(run).toMatchObject({
      data_interval_end: '2024-05-08T00:00:00.000Z',
      data_interval_start: '2024-05-01T00:00:00.000Z',
      logical_date: '2024-05-01T00:00:00.000Z',
      partition_key: null,
      run_id: 'backfill__2024-05-01T00:00:00+00:00--2024-05-07T00:00:00+00:00',
      state: 'success',
    })
    expect(run.logical_dates).toHaveLength(7)
    expect(linesOf(join(root, 'dags', 'seen.txt'))).toEqual([
      '2024-05-01 2024-05-01T00:00:00.000Z 2024-05-08T00:00:00.000Z [2024-05-01 2024-05-02 2024-05-03 2024-05-04 2024-05-05 2024-05-06 2024-05-07] 7',
    ])
  })

  it('keeps a record per date with the batch run id, fails every date of a failed batch, and re-runs them one by one', () => {
    const root = tmpProject({'dags/broken': '', 'dags/windowed.mjs': windowed})
    const failed = backfill(root, 'windowed', '-s', '2024-05-01', '-e', '2024-05-04', '--batch-size', '2', '--json')
    expect(failed.code).toBe(1)
    expect(JSON.parse(failed.stdout).runs.map((run: {run_id: string; state: string}) => [run.run_id, run.state])).toEqual([
      ['backfill__2024-05-01T00:00:00+00:00--2024-05-02T00:00:00+00:00', 'failed'],
      ['backfill__2024-05-03T00:00:00+00:00--2024-05-04T00:00:00+00:00', 'failed'],
    ])
    const runs = json(root, 'dags', 'list-runs', 'windowed').runs
    expect(runs.map((run: {batch_run_id: string; run_id: string; state: string}) => [run.run_id, run.state, run.batch_run_id])).toEqual([
      ['backfill__2024-05-01T00:00:00+00:00', 'failed', 'backfill__2024-05-01T00:00:00+00:00--2024-05-02T00:00:00+00:00'],
      ['backfill__2024-05-02T00:00:00+00:00', 'failed', 'backfill__2024-05-01T00:00:00+00:00--2024-05-02T00:00:00+00:00'],
      ['backfill__2024-05-03T00:00:00+00:00', 'failed', 'backfill__2024-05-03T00:00:00+00:00--2024-05-04T00:00:00+00:00'],
      ['backfill__2024-05-04T00:00:00+00:00', 'failed', 'backfill__2024-05-03T00:00:00+00:00--2024-05-04T00:00:00+00:00'],
    ])
    const day2 = json(root, 'tasks', 'states-for-dag-run', 'windowed', '2024-05-02').task_instances
    expect(day2.map((ti: {batch_run_id: string; state: string; task_id: string}) => [ti.task_id, ti.state, ti.batch_run_id])).toEqual([
      ['query', 'success', 'backfill__2024-05-01T00:00:00+00:00--2024-05-02T00:00:00+00:00'],
      ['publish', 'failed', 'backfill__2024-05-01T00:00:00+00:00--2024-05-02T00:00:00+00:00'],
    ])

    rmSync(join(root, 'dags', 'broken'))
    const retried = backfill(root, 'windowed', '-s', '2024-05-01', '-e', '2024-05-04', '--batch-size', '1', '--rerun-failed-tasks', '--json')
    expect(retried.code).toBe(0)
    expect(JSON.parse(retried.stdout).runs.map((run: {run_id: string; state: string; tasks: string[]}) => [run.run_id, run.tasks, run.state])).toEqual(
      ['01', '02', '03', '04'].map((day) => [`backfill__2024-05-${day}T00:00:00+00:00`, ['publish'], 'success']),
    )
    const publish = json(root, 'tasks', 'states-for-dag-run', 'windowed', '2024-05-02').task_instances[1]
    // Its own try 2, after the batch's try 1; no longer part of a batch.
    expect(publish).toMatchObject({batch_run_id: null, state: 'success', task_id: 'publish', try_number: 2})
    expect(readState(root).dags.windowed?.runs['backfill__2024-05-02T00:00:00+00:00']?.task_instances.publish?.history).toMatchObject([{reason: 'exit-non-zero', state: 'failed', try_number: 1}])
  })
})

describe('a stopped batch', () => {
  it('leaves its dates to the next backfill, which runs them as the same batch, each try counted once', async () => {
    const slow = `export default {schedule_interval: '@daily', start_date: '2024-05-01', backfill_policy: {max_dates_per_run: 3}, max_active_runs: 1,
      tasks: [{task_id: 'q', bash_command: 'echo "$UPDRAFT_DS_LIST" >> started.txt; sleep 30'}]}`
    const root = tmpProject({'dags/slow.mjs': slow})
    const backfillRun = startCli(['dags', 'backfill', 'slow', '-s', '2024-05-01', '-e', '2024-05-06', '--json'], {cwd: root})
    await waitFor(() => existsSync(join(root, 'dags', 'started.txt')))
    backfillRun.child.kill('SIGTERM')
    const stopped = await backfillRun.done
    expect(stopped.code).toBe(143)
    expect(JSON.parse(stopped.stdout).runs.map((run: {state: string}) => run.state)).toEqual(['queued', 'queued'])
    const day2 = readState(root).dags.slow?.runs['backfill__2024-05-02T00:00:00+00:00']?.task_instances.q
    expect(day2).toMatchObject({history: [{reason: 'interrupted', try_number: 1}], reason: 'interrupted', state: 'none', try_number: 1})

    writeFileSync(join(root, 'dags', 'slow.mjs'), slow.replace('sleep 30', 'true'))
    const resumed = backfill(root, 'slow', '-s', '2024-05-01', '-e', '2024-05-06', '--json')
    expect(resumed.code).toBe(0)
    expect(JSON.parse(resumed.stdout).runs.map((run: {run_id: string}) => run.run_id)).toEqual([
      'backfill__2024-05-01T00:00:00+00:00--2024-05-03T00:00:00+00:00',
      'backfill__2024-05-04T00:00:00+00:00--2024-05-06T00:00:00+00:00',
    ])
    expect(linesOf(join(root, 'dags', 'started.txt'))).toEqual(['2024-05-01 2024-05-02 2024-05-03', '2024-05-01 2024-05-02 2024-05-03', '2024-05-04 2024-05-05 2024-05-06'])
    expect(readState(root).dags.slow?.runs['backfill__2024-05-03T00:00:00+00:00']?.task_instances.q).toMatchObject({state: 'success', try_number: 2})
  })
})
