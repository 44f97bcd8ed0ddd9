import {describe, expect, it} from '@jest/globals'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {REPO_ROOT, runCli} from '../helpers/run-cli.js'
import {tmpProject} from '../helpers/tmp-project.js'

// A state file exactly as the schema_version 1 release wrote it: three Berlin days of `shop`, the second failed.
const fixture = join(REPO_ROOT, 'test', 'fixtures', 'state-v1')
const v1Text = readFileSync(join(fixture, 'db.json'), 'utf8')
const v1 = JSON.parse(v1Text)

function v1Project(): {db: string; root: string} {
  const root = tmpProject({'.updraft/db.json': v1Text, 'dags/shop.mjs': readFileSync(join(fixture, 'dags', 'shop.mjs'), 'utf8')})
  return {db: join(root, '.updraft', 'db.json'), root}
}

describe('state schema 1 → 2', () => {
  it('reads a v1 file without touching it, and refuses a bad command without upgrading it', () => {
    const {db, root} = v1Project()
    const runs = JSON.parse(runCli(['dags', 'list-runs', 'shop', '--json'], {cwd: root}).stdout).runs
    expect(runs.map((run: {partition_key: null; state: string}) => [run.state, run.partition_key])).toEqual([
      ['success', null],
      ['failed', null],
      ['success', null],
    ])
    expect(runCli(['dags', 'backfill', 'shop', '-s', '2024-01-04', '-t', '^nope$'], {cwd: root}).code).toBe(2)
    expect(runCli(['dags', 'backfill', 'shop', '-s', '2024-01-04', '--dry-run'], {cwd: root}).code).toBe(0)
    expect(readFileSync(db, 'utf8')).toBe(v1Text)
    expect(readdirSync(join(root, '.updraft'))).toEqual(['db.json'])
  })

  it('is upgraded in place by the first backfill, after a backup copy, keeping every run and try', () => {
    const {db, root} = v1Project()
    expect(runCli(['dags', 'backfill', 'shop', '-s', '2024-01-04'], {cwd: root}).code).toBe(0)
    expect(readFileSync(`${db}.v1.backup`, 'utf8')).toBe(v1Text)
    const upgraded = JSON.parse(readFileSync(db, 'utf8'))
    expect(upgraded.schema_version).toBe(2)
    for (const [runId, run] of Object.entries<{task_instances: Record<string, object>}>(v1.dags.shop.runs)) {
      const expected = {...run, partition_key: null, task_instances: Object.fromEntries(Object.entries(run.task_instances).map(([id, ti]) => [id, {...ti, batch_run_id: null}]))}
      expect(upgraded.dags.shop.runs[runId]).toEqual(expected)
    }

    expect(Object.keys(upgraded.dags.shop.runs)).toHaveLength(4)
  })

  it('carries on from the migrated state, and keeps the oldest backup', () => {
    const {db, root} = v1Project()
    expect(runCli(['dags', 'backfill', 'shop', '-s', '2024-01-04'], {cwd: root}).code).toBe(0)
    const rerun = runCli(['dags', 'backfill', 'shop', '-s', '2024-01-01', '-e', '2024-01-03', '--rerun-failed-tasks', '--json'], {cwd: root})
    // The failing task fails again for 2024-01-02, after the try the v1 release recorded.
    expect(rerun.code).toBe(1)
    expect(JSON.parse(rerun.stdout).runs.map((run: {tasks: string[]}) => run.tasks)).toEqual([[], ['load', 'report'], []])
    const load = JSON.parse(readFileSync(db, 'utf8')).dags.shop.runs['backfill__2024-01-01T23:00:00+00:00'].task_instances.load
    expect(load.try_number).toBe(v1.dags.shop.runs['backfill__2024-01-01T23:00:00+00:00'].task_instances.load.try_number + 2)
    expect(readFileSync(`${db}.v1.backup`, 'utf8')).toBe(v1Text)
    expect(existsSync(`${db}.v2.backup`)).toBe(false)
  })
})
