import {describe, expect, it} from '@jest/globals'
import {existsSync} from 'node:fs'
import {join} from 'node:path'

import {runCli} from '../helpers/run-cli.js'
import {tmpProject} from '../helpers/tmp-project.js'

const salesPipeline = `export default {
  dag_id: 'sales_pipeline',
  schedule_interval: '@daily',
  start_date: '2024-01-01',
  timezone: 'UTC',
  max_active_runs: 16,
  params: {region: 'eu'},
  default_args: {retries: 1, retry_delay: {minutes: 5}, depends_on_past: false},
  tasks: [
    {task_id: 'extract', bash_command: 'echo extracting {{ ds }}'},
    {task_id: 'transform', bash_command: './transform.sh {{ ds }}', upstream: ['extract']},
    {task_id: 'load', callable: async (ctx) => {}, upstream: ['transform']},
  ],
}
`

const kolkata = `const dag: Record<string, unknown> = {
  schedule_interval: '0 6 * * *', start_date: '2024-03-01', timezone: 'Asia/Kolkata',
  tasks: [{task_id: 'only', bash_command: 'true'}],
}
export default dag
`

describe('dags backfill --dry-run (built CLI)', () => {
  const root = tmpProject({'dags/kolkata.ts': kolkata, 'dags/sales_pipeline.ts': salesPipeline})

  it('prints the §7 JSON document and writes nothing', () => {
    const result = runCli(['dags', 'backfill', 'sales_pipeline', '-s', '2024-01-01', '-e', '2024-01-02', '--dry-run', '--json'], {cwd: root})
    expect(result.code).toBe(0)
    expect(JSON.parse(result.stdout)).toEqual({
      dag_id: 'sales_pipeline',
      excluded: {after_end_date: 0, before_start_date: 0, not_yet_due: 0},
      runs: [
        {data_interval_end: '2024-01-02T00:00:00.000Z', data_interval_start: '2024-01-01T00:00:00.000Z', logical_date: '2024-01-01T00:00:00.000Z', logical_dates: ['2024-01-01T00:00:00.000Z'], partition_key: null, run_id: 'backfill__2024-01-01T00:00:00+00:00', tasks: ['extract', 'transform', 'load']},
        {data_interval_end: '2024-01-03T00:00:00.000Z', data_interval_start: '2024-01-02T00:00:00.000Z', logical_date: '2024-01-02T00:00:00.000Z', logical_dates: ['2024-01-02T00:00:00.000Z'], partition_key: null, run_id: 'backfill__2024-01-02T00:00:00+00:00', tasks: ['extract', 'transform', 'load']},
      ],
    })
    expect(existsSync(join(root, '.updraft'))).toBe(false)
  })

  // 06:00 in Kolkata is 00:30Z; -e 2024-03-03 is Kolkata midnight, before that day's tick.
  it('gives the same plan whatever the host zone', () => {
    const args = ['dags', 'backfill', 'kolkata', '-s', '2024-03-01', '-e', '2024-03-03', '--dry-run', '--json']
    const utc = runCli(args, {cwd: root, env: {TZ: 'UTC'}})
    const honolulu = runCli(args, {cwd: root, env: {TZ: 'Pacific/Honolulu'}})
    expect(JSON.parse(utc.stdout).runs.map((run: {logical_date: string}) => run.logical_date)).toEqual([
      '2024-03-01T00:30:00.000Z',
      '2024-03-02T00:30:00.000Z',
    ])
    expect(honolulu.stdout).toBe(utc.stdout)
  })

  it('prints a readable plan', () => {
    const result = runCli(['dags', 'backfill', 'sales_pipeline', '-l', '2024-01-05,2024-01-03', '--dry-run'], {cwd: root})
    expect(result.code).toBe(0)
    expect(result.stdout).toContain('2 logical date(s), 6 task instance(s) to run')
    expect(result.stdout).toMatch(/2024-01-03  backfill__[^\n]*\n\s+run:\s+extract, transform, load/)
  })

  it('says so when no logical date is in range', () => {
    const result = runCli(['dags', 'backfill', 'sales_pipeline', '-s', '2023-06-01', '-e', '2023-06-03', '--dry-run'], {cwd: root})
    expect(result.code).toBe(0)
    expect(result.stdout).toContain('No logical dates in range for sales_pipeline: 2023-06-01 → 2023-06-03 (@daily, UTC)')
    expect(result.stdout).toContain("3 logical date(s) before the DAG's start_date (2024-01-01) were excluded")
  })

  it('accepts --reset_dagruns and -D as written in Airflow guides', () => {
    const result = runCli(['dags', 'backfill', 'sales_pipeline', '-D', '2024-01-05', '--reset_dagruns', '-y', '--dry-run', '--json'], {cwd: root})
    expect(result.code).toBe(0)
    expect(JSON.parse(result.stdout).runs).toHaveLength(1)
  })

  it.each([
    [['-s', '2024-13-01'], 2, 'INVALID_DATE', 'got "2024-13-01"'],
    [['-s', '2024-01-05', '-e', '2024-01-01'], 2, 'DATE_RANGE_INVERTED', 'got 2024-01-05 after 2024-01-01'],
    [['-l', '2024-01-05T03:00'], 2, 'DATE_NOT_A_TICK', 'nearest ticks: 2024-01-05 (before) and 2024-01-06 (after)'],
    [['-l', '2024-01-05', '-s', '2024-01-01'], 2, 'USAGE', '--start-date cannot also be provided when using --logical-dates'],
    [['-s', '2024-01-01', '-i'], 2, 'USAGE', '--task-regex'],
    [['-s', '2024-01-01', '-t', '[a-'], 2, 'INVALID_REGEX', 'got "[a-"'],
    [['-s', '2024-01-01', '-t', '^nothing$'], 2, 'NO_TASK_MATCHES', 'no task matches /^nothing$/ in DAG sales_pipeline (tasks: extract, transform, load)'],
    [['-s', '2024-01-01', '-c', '{bad'], 2, 'INVALID_CONF', 'Expected --conf to be a JSON object'],
    [['-s', '2024-01-01', '-c', '42'], 2, 'INVALID_CONF', 'got 42'],
    [['-s', '2024-01-01', '--max-active-runs', '0'], 2, 'USAGE', 'Expected --max-active-runs to be a positive integer, got "0"'],
    [['-s', '2024-01-01', '--parallelism', 'two'], 2, 'USAGE', 'got "two"'],
    [[], 2, 'MISSING_DATES', 'got none'],
  ])('%j exits %i with %s', (flags, exit, code, message) => {
    const result = runCli(['dags', 'backfill', 'sales_pipeline', '--dry-run', ...flags], {cwd: root})
    expect(result.code).toBe(exit)
    expect(result.stderr).toContain(`Code: ${code}`)
    expect(result.stderr.split('\n')[0]).toContain(message)
    expect(existsSync(join(root, '.updraft'))).toBe(false)
  })

  it('an unknown DAG id exits 1 and suggests the closest', () => {
    const result = runCli(['dags', 'backfill', 'sales_pipelin', '-s', '2024-01-01', '--dry-run'], {cwd: root})
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('Code: DAG_NOT_FOUND')
    expect(result.stderr).toContain('Try this: Did you mean "sales_pipeline"?')
  })
})

describe('dags list, dags show, tasks list (built CLI)', () => {
  const root = tmpProject({
    'dags/broken.mjs': `export default {schedule_interval: '@daily', start_date: '2024-01-01', tasks: [{task_id: 'a', bash_command: 'x', upstream: ['a']}]}`,
    'dags/sales_pipeline.ts': salesPipeline,
  })

  it('dags list shows every DAG and every broken file with its error', () => {
    const result = runCli(['dags', 'list', '--json'], {cwd: root})
    expect(result.code).toBe(0)
    const document = JSON.parse(result.stdout)
    expect(document.dags).toEqual([expect.objectContaining({dag_id: 'sales_pipeline', schedule_interval: '@daily', tasks: 3, timezone: 'UTC'})])
    expect(document.errors).toEqual([expect.objectContaining({code: 'DAG_CYCLE', file: join(root, 'dags', 'broken.mjs')})])
    expect(runCli(['dags', 'list'], {cwd: root}).stdout).toMatch(/sales_pipeline\s+@daily\s+UTC\s+3/)
  })

  it('dags show prints the graph and the next ticks', () => {
    const result = runCli(['dags', 'show', 'sales_pipeline', '--json', '--ticks', '2'], {cwd: root})
    const document = JSON.parse(result.stdout)
    expect(document.tasks.map((task: {downstream: string[]; task_id: string}) => [task.task_id, task.downstream])).toEqual([
      ['extract', ['transform']],
      ['transform', ['load']],
      ['load', []],
    ])
    expect(document.next_ticks).toHaveLength(2)
    expect(runCli(['dags', 'show', 'sales_pipeline'], {cwd: root}).stdout).toMatch(/extract\s+→ transform/)
  })

  it('tasks list prints task ids in topological order', () => {
    expect(runCli(['tasks', 'list', 'sales_pipeline'], {cwd: root}).stdout.trim().split('\n')).toEqual(['extract', 'transform', 'load'])
  })

  it("a DAG file can import defineDag from 'updraft' without installing it next to the DAGs", () => {
    const typed = tmpProject({'dags/typed.ts': `import {defineDag} from 'updraft'\nexport default defineDag({schedule_interval: '@daily', start_date: '2024-01-01', tasks: [{task_id: 'only', bash_command: 'true'}]})`})
    const result = runCli(['tasks', 'list', 'typed'], {cwd: typed})
    expect(result.code).toBe(0)
    expect(result.stdout.trim()).toBe('only')
  })

  it('--dags-folder and UPDRAFT_DAGS_FOLDER choose the folder', () => {
    const elsewhere = tmpProject({'pipelines/other.mjs': `export default {schedule_interval: '@daily', start_date: '2024-01-01', tasks: [{task_id: 'x', bash_command: 'true'}]}`})
    expect(runCli(['tasks', 'list', 'other', '--dags-folder', join(elsewhere, 'pipelines')], {cwd: root}).stdout.trim()).toBe('x')
    expect(runCli(['tasks', 'list', 'other'], {cwd: root, env: {UPDRAFT_DAGS_FOLDER: join(elsewhere, 'pipelines')}}).stdout.trim()).toBe('x')
  })
})
