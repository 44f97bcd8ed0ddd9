import {describe, expect, it} from '@jest/globals'
import {spawnSync} from 'node:child_process'
import {existsSync, readFileSync, rmSync} from 'node:fs'
import {join} from 'node:path'

import {BIN, runCli} from '../helpers/run-cli.js'
import {linesOf, readState, taskInstance, tiStates} from '../helpers/state-file.js'
import {tmpProject} from '../helpers/tmp-project.js'

// Tasks run in the DAGs folder, so ../runs.txt is the project root's record of every execution.
const record = (task: string) => `echo "${task} {{ ds }}" >> ../runs.txt`

const diamond = (extra = '') => `export default {
  schedule_interval: '@daily',
  start_date: '2024-01-01',
  ${extra}
  tasks: [
    {task_id: 'extract', bash_command: '${record('extract')} && mkdir -p ../out && echo "raw {{ ds }}" > ../out/raw_{{ ds_nodash }}.txt'},
    {task_id: 'clean', bash_command: '${record('clean')} && test ! -f ../fail_{{ ds }}', upstream: ['extract']},
    {task_id: 'aggregate', bash_command: '${record('aggregate')}', upstream: ['extract']},
    {task_id: 'load', bash_command: '${record('load')} && cat ../out/raw_{{ ds_nodash }}.txt > ../out/loaded_{{ ds }}.txt', upstream: ['clean', 'aggregate']},
  ],
}
`

const backfill = (root: string, ...args: string[]) => runCli(['dags', 'backfill', ...args], {cwd: root})

describe('dags backfill (built CLI, real bash tasks)', () => {
  it('runs a diamond over several dates, writes the files, and a second run re-runs nothing', () => {
    const root = tmpProject({'dags/diamond.mjs': diamond()})
    const first = backfill(root, 'diamond', '-s', '2024-01-01', '-e', '2024-01-03')
    expect(first.code).toBe(0)
    expect(readFileSync(join(root, 'out', 'loaded_2024-01-02.txt'), 'utf8')).toBe('raw 2024-01-02\n')
    expect(linesOf(join(root, 'runs.txt'))).toHaveLength(12)
    expect(tiStates(root, 'diamond')['2024-01-03']).toEqual({aggregate: 'success', clean: 'success', extract: 'success', load: 'success'})
    expect(first.stdout).toContain('3 success (3 total)')

    const second = backfill(root, 'diamond', '-s', '2024-01-01', '-e', '2024-01-03')
    expect(second.code).toBe(0)
    expect(linesOf(join(root, 'runs.txt'))).toHaveLength(12)
  })

  it('a failing task exits 1, marks its downstream upstream_failed, and the other dates complete', () => {
    const root = tmpProject({'dags/diamond.mjs': diamond(), 'fail_2024-01-02': ''})
    const result = backfill(root, 'diamond', '-s', '2024-01-01', '-e', '2024-01-03')
    expect(result.code).toBe(1)
    const states = tiStates(root, 'diamond')
    expect(states['2024-01-02']).toEqual({aggregate: 'success', clean: 'failed', extract: 'success', load: 'upstream_failed'})
    expect(states['2024-01-01']?.load).toBe('success')
    expect(states['2024-01-03']?.load).toBe('success')
    expect(result.stdout).toContain('Failures (2):')
    expect(result.stdout).toMatch(/diamond\s+clean\s+2024-01-02\s+1\s+failed\s+exit-non-zero\s+\S+attempt=1\.log/)
  })

  it('--rerun-failed-tasks re-runs only the failed and upstream_failed instances', () => {
    const root = tmpProject({'dags/diamond.mjs': diamond(), 'fail_2024-01-02': ''})
    backfill(root, 'diamond', '-s', '2024-01-01', '-e', '2024-01-03')
    rmSync(join(root, 'fail_2024-01-02'))
    expect(backfill(root, 'diamond', '-s', '2024-01-01', '-e', '2024-01-03').code).toBe(1)
    const before = linesOf(join(root, 'runs.txt')).length
    const rerun = backfill(root, 'diamond', '-s', '2024-01-01', '-e', '2024-01-03', '--rerun-failed-tasks')
    expect(rerun.code).toBe(0)
    expect(linesOf(join(root, 'runs.txt')).slice(before)).toEqual(['clean 2024-01-02', 'load 2024-01-02'])
    expect(taskInstance(root, 'diamond', '2024-01-02', 'clean')).toMatchObject({state: 'success', try_number: 2})
  })

  it('--reset-dagruns needs -y without a terminal, and with -y re-runs everything selected, twice the same', () => {
    const root = tmpProject({'dags/diamond.mjs': diamond()})
    backfill(root, 'diamond', '-s', '2024-01-01', '-e', '2024-01-02')
    const stateBefore = readFileSync(join(root, '.updraft', 'db.json'), 'utf8')
    const refused = backfill(root, 'diamond', '-s', '2024-01-01', '-e', '2024-01-02', '--reset-dagruns')
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain('Code: CONFIRMATION_REQUIRED')
    expect(readFileSync(join(root, '.updraft', 'db.json'), 'utf8')).toBe(stateBefore)
    // Answering no on a terminal is a refusal with a code of its own, each code with one exit status.
    const command = [process.execPath, BIN, 'dags', 'backfill', 'diamond', '-s', '2024-01-01', '-e', '2024-01-02', '--reset-dagruns'].map((word) => `'${word}'`).join(' ')
    const declined = spawnSync('script', ['-qfec', command, '/dev/null'], {cwd: root, encoding: 'utf8', env: {...process.env, NO_COLOR: '1'}, input: 'n\n'})
    expect(declined.status).toBe(1)
    expect(declined.stdout).toContain('Code: CONFIRMATION_DECLINED')
    expect(readFileSync(join(root, '.updraft', 'db.json'), 'utf8')).toBe(stateBefore)

    expect(backfill(root, 'diamond', '-s', '2024-01-01', '-e', '2024-01-02', '--reset-dagruns', '-y').code).toBe(0)
    expect(linesOf(join(root, 'runs.txt'))).toHaveLength(16)
    expect(backfill(root, 'diamond', '-s', '2024-01-01', '-e', '2024-01-02', '--reset_dagruns', '-y').code).toBe(0)
    expect(linesOf(join(root, 'runs.txt'))).toHaveLength(24)
    expect(taskInstance(root, 'diamond', '2024-01-01', 'load')?.try_number).toBe(3)
  })

  it('-t runs the match and its upstream; -i runs only the match', () => {
    const root = tmpProject({'dags/diamond.mjs': diamond()})
    expect(backfill(root, 'diamond', '-s', '2024-01-01', '-t', '^clean$').code).toBe(0)
    expect(linesOf(join(root, 'runs.txt'))).toEqual(['extract 2024-01-01', 'clean 2024-01-01'])
    expect(backfill(root, 'diamond', '-s', '2024-01-02', '-t', 'agg', '-i').code).toBe(0)
    expect(linesOf(join(root, 'runs.txt')).slice(2)).toEqual(['aggregate 2024-01-02'])
    expect(tiStates(root, 'diamond')['2024-01-02']).toEqual({aggregate: 'success'})
  })

  it('retries until success and counts the tries; --disable-retry fails at once', () => {
    const flaky = `export default {schedule_interval: '@daily', start_date: '2024-01-01', default_args: {retries: 3, retry_delay: {seconds: 0}},
      tasks: [{task_id: 'flaky', bash_command: 'echo try $UPDRAFT_TRY_NUMBER >> ../tries.txt; [ "$UPDRAFT_TRY_NUMBER" -ge 3 ]'}]}`
    const root = tmpProject({'dags/flaky.mjs': flaky})
    expect(backfill(root, 'flaky', '-s', '2024-01-01').code).toBe(0)
    expect(linesOf(join(root, 'tries.txt'))).toEqual(['try 1', 'try 2', 'try 3'])
    expect(taskInstance(root, 'flaky', '2024-01-01', 'flaky')).toMatchObject({state: 'success', try_number: 3})
    expect(backfill(root, 'flaky', '-s', '2024-01-02', '--disable-retry').code).toBe(1)
    expect(taskInstance(root, 'flaky', '2024-01-02', 'flaky')).toMatchObject({state: 'failed', try_number: 1})
  })

  it('execution_timeout kills a task that runs too long', () => {
    const slow = `export default {schedule_interval: '@daily', start_date: '2024-01-01',
      tasks: [{task_id: 'slow', bash_command: 'sleep 30', execution_timeout: {seconds: 1}}]}`
    const root = tmpProject({'dags/slow.mjs': slow})
    const started = Date.now()
    const result = backfill(root, 'slow', '-s', '2024-01-01')
    expect(result.code).toBe(1)
    expect(Date.now() - started).toBeLessThan(15_000)
    expect(taskInstance(root, 'slow', '2024-01-01', 'slow')).toMatchObject({reason: 'timeout', state: 'failed'})
  })

  it('max_active_runs 1 runs dates one after another; 3 overlaps them', () => {
    const sleepy = `export default {schedule_interval: '@daily', start_date: '2024-01-01', tasks: [{task_id: 'nap', bash_command: 'sleep 0.3'}]}`
    const root = tmpProject({'dags/sleepy.mjs': sleepy})
    const windows = () =>
      Object.values(readState(root).dags.sleepy?.runs ?? {})
        .sort((a, b) => String(a.logical_date).localeCompare(String(b.logical_date)))
        .map((run) => [new Date(run.start_date as string).getTime(), new Date(run.end_date as string).getTime()] as const)
    const overlaps = (spans: ReadonlyArray<readonly [number, number]>) => spans.slice(1).some(([start], index) => start < (spans[index] as [number, number])[1])

    expect(backfill(root, 'sleepy', '-s', '2024-01-01', '-e', '2024-01-03', '--max-active-runs', '1').code).toBe(0)
    expect(overlaps(windows())).toBe(false)
    rmSync(join(root, '.updraft'), {recursive: true})
    expect(backfill(root, 'sleepy', '-s', '2024-01-01', '-e', '2024-01-03', '--max-active-runs', '3').code).toBe(0)
    expect(overlaps(windows())).toBe(true)
  })

  it('depends_on_past runs each date after the previous one succeeded', () => {
    const ordered = `export default {schedule_interval: '@daily', start_date: '2024-01-01', max_active_runs: 3, default_args: {depends_on_past: true},
      tasks: [{task_id: 'step', bash_command: 'sleep 0.2; echo {{ ds }} >> ../order.txt'}]}`
    const root = tmpProject({'dags/ordered.mjs': ordered})
    expect(backfill(root, 'ordered', '-s', '2024-01-01', '-e', '2024-01-04').code).toBe(0)
    expect(linesOf(join(root, 'order.txt'))).toEqual(['2024-01-01', '2024-01-02', '2024-01-03', '2024-01-04'])
    const spans = ['2024-01-01', '2024-01-02', '2024-01-03', '2024-01-04'].map((day) => taskInstance(root, 'ordered', day, 'step'))
    for (let index = 1; index < spans.length; index++) {
      expect(new Date(spans[index]?.start_date as string).getTime()).toBeGreaterThanOrEqual(new Date(spans[index - 1]?.end_date as string).getTime())
    }
  })

  it('runs callables with the context and merges -c into params', () => {
    const callable = `import {writeFileSync} from 'node:fs'
      export default {schedule_interval: '0 6 * * *', start_date: '2024-01-01', timezone: 'Asia/Kolkata', params: {region: 'eu', keep: 1},
      tasks: [{task_id: 'py', callable: (ctx) => writeFileSync(new URL('../ctx.json', import.meta.url), JSON.stringify({ds: ctx.ds, ts: ctx.ts, params: ctx.params, run_id: ctx.run_id, try_number: ctx.try_number}))}]}`
    const root = tmpProject({'dags/callable.mjs': callable})
    const result = backfill(root, 'callable', '-l', '2024-03-01T06:00', '-c', '{"region":"us"}', '--json')
    expect(result.code).toBe(0)
    expect(JSON.parse(readFileSync(join(root, 'ctx.json'), 'utf8'))).toEqual({
      ds: '2024-03-01',
      params: {keep: 1, region: 'us'},
      run_id: 'backfill__2024-03-01T00:30:00+00:00',
      try_number: 1,
      ts: '2024-03-01T06:00:00+05:30',
    })
    expect(JSON.parse(result.stdout)).toEqual({
      backfill_id: 1,
      dag_id: 'callable',
      excluded: {after_end_date: 0, before_start_date: 0, not_yet_due: 0},
      runs: [
        {
          data_interval_end: '2024-03-02T00:30:00.000Z',
          data_interval_start: '2024-03-01T00:30:00.000Z',
          logical_date: '2024-03-01T00:30:00.000Z',
          logical_dates: ['2024-03-01T00:30:00.000Z'],
          partition_key: null,
          run_id: 'backfill__2024-03-01T00:30:00+00:00',
          state: 'success',
          task_instances: {py: 'success'},
          tasks: ['py'],
        },
      ],
    })
  })

  it('-m marks success without running', () => {
    const root = tmpProject({'dags/diamond.mjs': diamond()})
    expect(backfill(root, 'diamond', '-s', '2024-01-01', '-m').code).toBe(0)
    expect(existsSync(join(root, 'runs.txt'))).toBe(false)
    expect(tiStates(root, 'diamond')['2024-01-01']).toEqual({aggregate: 'success', clean: 'success', extract: 'success', load: 'success'})
  })

  it('a corrupt state file is refused and left untouched', () => {
    const root = tmpProject({'.updraft/db.json': '{"schema_version": 1, "dags": {', 'dags/diamond.mjs': diamond()})
    const result = backfill(root, 'diamond', '-s', '2024-01-01')
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('Code: STATE_FILE_CORRUPT')
    expect(readFileSync(join(root, '.updraft', 'db.json'), 'utf8')).toBe('{"schema_version": 1, "dags": {')
  })

  it('a state file from a newer schema is refused and left untouched', () => {
    const newer = JSON.stringify({dags: {}, schema_version: 99})
    const root = tmpProject({'.updraft/db.json': newer, 'dags/diamond.mjs': diamond()})
    const result = backfill(root, 'diamond', '-s', '2024-01-01')
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('Code: STATE_SCHEMA_TOO_NEW')
    expect(readFileSync(join(root, '.updraft', 'db.json'), 'utf8')).toBe(newer)
  })

  it('list-runs, states-for-dag-run and logs report what ran', () => {
    const root = tmpProject({'dags/diamond.mjs': diamond(), 'fail_2024-01-02': ''})
    backfill(root, 'diamond', '-s', '2024-01-01', '-e', '2024-01-02')
    const runs = JSON.parse(runCli(['dags', 'list-runs', 'diamond', '--json'], {cwd: root}).stdout)
    expect(runs.runs.map((run: {state: string}) => run.state)).toEqual(['success', 'failed'])
    const failed = JSON.parse(runCli(['dags', 'list-runs', 'diamond', '--state', 'failed', '--json'], {cwd: root}).stdout)
    expect(failed.runs).toEqual([expect.objectContaining({logical_date: '2024-01-02T00:00:00.000Z', run_id: 'backfill__2024-01-02T00:00:00+00:00'})])
    const states = JSON.parse(runCli(['tasks', 'states-for-dag-run', 'diamond', '2024-01-02', '--json'], {cwd: root}).stdout)
    expect(states.task_instances.find((ti: {task_id: string}) => ti.task_id === 'clean')).toMatchObject({reason: 'exit-non-zero', state: 'failed', try_number: 1})
    expect(runCli(['tasks', 'states-for-dag-run', 'diamond', 'backfill__2024-01-01T00:00:00+00:00'], {cwd: root}).stdout).toMatch(/load\s+success\s+1/)
    const logs = runCli(['tasks', 'logs', 'diamond', 'load', '2024-01-01'], {cwd: root})
    expect(logs.code).toBe(0)
    const missing = runCli(['tasks', 'logs', 'diamond', 'load', '2024-03-01'], {cwd: root})
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain('Code: RUN_NOT_FOUND')
  })
})
