import {describe, expect, it} from '@jest/globals'
import {existsSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {readWholeState} from '../../src/core/state/embedded/embedded-store.js'
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

describe('state schema 1 → 3', () => {
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
    expect(JSON.parse(readFileSync(db, 'utf8')).schema_version).toBe(3)
    const upgraded = readWholeState(db)
    for (const [runId, run] of Object.entries<{task_instances: Record<string, object>}>(v1.dags.shop.runs)) {
      const expected = {...run, partition_key: null, task_instances: Object.fromEntries(Object.entries(run.task_instances).map(([id, ti]) => [id, {...ti, batch_run_id: null}]))}
      expect(upgraded.dags.shop?.runs[runId]).toEqual(expected)
    }

    expect(Object.keys(upgraded.dags.shop?.runs ?? {})).toHaveLength(4)
  })

  it('carries on from the migrated state, and keeps the oldest backup', () => {
    const {db, root} = v1Project()
    expect(runCli(['dags', 'backfill', 'shop', '-s', '2024-01-04'], {cwd: root}).code).toBe(0)
    const rerun = runCli(['dags', 'backfill', 'shop', '-s', '2024-01-01', '-e', '2024-01-03', '--rerun-failed-tasks', '--json'], {cwd: root})
    // The failing task fails again for 2024-01-02, after the try the v1 release recorded.
    expect(rerun.code).toBe(1)
    expect(JSON.parse(rerun.stdout).runs.map((run: {tasks: string[]}) => run.tasks)).toEqual([[], ['load', 'report'], []])
    const load = readWholeState(db).dags.shop?.runs['backfill__2024-01-01T23:00:00+00:00']?.task_instances.load
    expect(load?.try_number).toBe(v1.dags.shop.runs['backfill__2024-01-01T23:00:00+00:00'].task_instances.load.try_number + 2)
    expect(readFileSync(`${db}.v1.backup`, 'utf8')).toBe(v1Text)
    expect(existsSync(`${db}.v2.backup`)).toBe(false)
  })
})

// A state written by the last release of schema 2 (test/fixtures/state-v2): a date × region DAG run in batches
// of two dates, a DAG whose failed date was re-run and then paused, and a key-only DAG; four records.
const v2Fixture = join(REPO_ROOT, 'test', 'fixtures', 'state-v2')
const v2Text = readFileSync(join(v2Fixture, 'db.json'), 'utf8')

function v2Project(): {db: string; root: string} {
  const dags = Object.fromEntries(readdirSync(join(v2Fixture, 'dags')).map((name) => [`dags/${name}`, readFileSync(join(v2Fixture, 'dags', name), 'utf8')]))
  const root = tmpProject({'.updraft/db.json': v2Text, ...dags})
  return {db: join(root, '.updraft', 'db.json'), root}
}

/** What every reading command shows of the fixture, as JSON. */
function everythingShown(root: string): Record<string, unknown> {
  const json = (args: string[]) => {
    const result = runCli([...args, '--json'], {cwd: root})
    expect(result.stderr).toBe('')
    return JSON.parse(result.stdout) as unknown
  }

  return {
    backfills: json(['backfills', 'list']),
    dags: json(['dags', 'list']),
    grid: json(['dags', 'grid', 'regions', '-s', '2024-01-30', '-e', '2024-02-02']),
    records: [1, 2, 3, 4].map((id) => json(['backfills', 'show', String(id)])),
    runs: ['regions', 'flaky', 'catalogue'].map((dagId) => json(['dags', 'list-runs', dagId])),
    states: [json(['tasks', 'states-for-dag-run', 'flaky', '2024-02-01']), json(['tasks', 'states-for-dag-run', 'regions', '2024-02-01', '--partition', 'eu'])],
  }
}

describe('state schema 2 → 3', () => {
  it('is read untouched, then split by the first command that writes, keeping the schema-2 file byte for byte; every command shows the same before and after', () => {
    const {db, root} = v2Project()
    const before = everythingShown(root)
    expect(readFileSync(db, 'utf8')).toBe(v2Text)
    expect(readdirSync(join(root, '.updraft'))).toEqual(['db.json'])

    // Pausing a paused DAG writes and changes nothing.
    expect(runCli(['dags', 'pause', 'flaky'], {cwd: root}).code).toBe(0)
    expect(readFileSync(`${db}.v2.backup`, 'utf8')).toBe(v2Text)
    expect(JSON.parse(readFileSync(db, 'utf8')).schema_version).toBe(3)
    expect(readdirSync(join(root, '.updraft', 'db.json.runs')).sort()).toEqual(['catalogue', 'flaky', 'regions'])
    expect(everythingShown(root)).toEqual(before)

    // And it carries on: the failed date of the re-run history keeps its tries, a new date gets the next id.
    const next = runCli(['dags', 'backfill', 'flaky', '-s', '2024-02-03', '--json'], {cwd: root})
    expect(next.code).toBe(0)
    expect(JSON.parse(next.stdout).backfill_id).toBe(5)
    const check = readWholeState(db).dags.flaky?.runs['backfill__2024-02-01T00:00:00+00:00']?.task_instances.check
    expect(check).toMatchObject({state: 'success', try_number: 2})
    expect(readFileSync(`${db}.v2.backup`, 'utf8')).toBe(v2Text)
  })

  it('refuses a newer schema untouched', () => {
    const {db, root} = v2Project()
    const newer = v2Text.replace('"schema_version": 2', '"schema_version": 4')
    writeFileSync(db, newer)
    const result = runCli(['dags', 'backfill', 'flaky', '-s', '2024-02-03'], {cwd: root})
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('STATE_SCHEMA_TOO_NEW')
    expect(readFileSync(db, 'utf8')).toBe(newer)
    expect(readdirSync(join(root, '.updraft'))).toEqual(['db.json'])
  })
})
