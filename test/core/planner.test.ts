import {describe, expect, it} from '@jest/globals'

import {type BackfillRequest, dryRunDocument, planBackfill} from '../../src/core/planner/plan-backfill.js'
import type {DateSelection} from '../../src/core/schedule/resolve-dates.js'
import {bashTasks, LATER, makeDag, range} from '../helpers/builders.js'

const diamond = makeDag({tasks: bashTasks('extract', 'clean:extract', 'aggregate:extract', 'load:clean,aggregate', 'notify:load')})

function request(dates: DateSelection, overrides: Partial<BackfillRequest> = {}): BackfillRequest {
  return {batchSize: 1, dates, ignoreDependencies: false, keys: {from: null, kind: 'range', to: null}, rerunFailedTasks: false, resetDagRuns: false, runBackwards: false, taskRegex: null, ...overrides}
}

describe('planBackfill', () => {
  it('lists each date with its interval, run id and tasks in topological order, ties by id', () => {
    const plan = planBackfill(diamond, request(range('2024-01-01', '2024-01-02')), LATER, [])
    expect(dryRunDocument(plan)).toEqual({
      dag_id: 'test_dag',
      excluded: {after_end_date: 0, before_start_date: 0, not_yet_due: 0},
      runs: [
        {
          data_interval_end: '2024-01-02T00:00:00.000Z',
          data_interval_start: '2024-01-01T00:00:00.000Z',
          logical_date: '2024-01-01T00:00:00.000Z',
          logical_dates: ['2024-01-01T00:00:00.000Z'],
          partition_key: null,
          run_id: 'backfill__2024-01-01T00:00:00+00:00',
          tasks: ['extract', 'aggregate', 'clean', 'load', 'notify'],
        },
        {
          data_interval_end: '2024-01-03T00:00:00.000Z',
          data_interval_start: '2024-01-02T00:00:00.000Z',
          logical_date: '2024-01-02T00:00:00.000Z',
          logical_dates: ['2024-01-02T00:00:00.000Z'],
          partition_key: null,
          run_id: 'backfill__2024-01-02T00:00:00+00:00',
          tasks: ['extract', 'aggregate', 'clean', 'load', 'notify'],
        },
      ],
    })
  })

  it('-t searches anywhere in the id and adds every transitive upstream', () => {
    const plan = planBackfill(diamond, request(range('2024-01-01'), {taskRegex: /oad/}), LATER, [])
    expect(plan.runs[0]?.tasks).toEqual(['extract', 'aggregate', 'clean', 'load'])
  })

  it('-t with -i runs only the matched tasks', () => {
    const plan = planBackfill(diamond, request(range('2024-01-01'), {ignoreDependencies: true, taskRegex: /^(load|notify)$/}), LATER, [])
    expect(plan.runs[0]?.tasks).toEqual(['load', 'notify'])
  })

  it('an anchored -t does not match longer ids', () => {
    const dag = makeDag({tasks: bashTasks('ingest', 'ingest_extra:ingest', 'post:ingest_extra')})
    expect(planBackfill(dag, request(range('2024-01-01'), {taskRegex: /^ingest$/}), LATER, []).runs[0]?.tasks).toEqual(['ingest'])
    expect(planBackfill(dag, request(range('2024-01-01'), {taskRegex: /ingest/}), LATER, []).runs[0]?.tasks).toEqual(['ingest', 'ingest_extra'])
  })

  it('a regex that matches nothing names the DAG and its tasks', () => {
    expect(() => planBackfill(diamond, request(range('2024-01-01'), {taskRegex: /^nope/}), LATER, [])).toThrow(
      expect.objectContaining({code: 'NO_TASK_MATCHES', message: 'no task matches /^nope/ in DAG test_dag (tasks: extract, aggregate, clean, load, notify)'}),
    )
  })

  it('-B puts the newest date first', () => {
    const plan = planBackfill(diamond, request(range('2024-01-01', '2024-01-03'), {runBackwards: true}), LATER, [])
    expect(plan.runs.map((run) => run.logical_date)).toEqual(['2024-01-03T00:00:00.000Z', '2024-01-02T00:00:00.000Z', '2024-01-01T00:00:00.000Z'])
  })

  it('-B is refused when a selected task depends on its past', () => {
    const dag = makeDag({default_args: {depends_on_past: true}, tasks: bashTasks('a')})
    expect(() => planBackfill(dag, request(range('2024-01-01', '2024-01-03'), {runBackwards: true}), LATER, [])).toThrow(
      expect.objectContaining({code: 'RUN_BACKWARDS_WITH_DEPENDS_ON_PAST', exit: 2}),
    )
  })

  describe('existing state', () => {
    const runId = 'backfill__2024-01-01T00:00:00+00:00'
    const existing = [{run_id: runId, task_instances: {aggregate: 'success', clean: 'failed', extract: 'success', load: 'upstream_failed', notify: 'upstream_failed'} as const}]

    it('skips successes and reports failures without re-running them', () => {
      const run = planBackfill(diamond, request(range('2024-01-01')), LATER, existing).runs[0]
      expect(run?.tasks).toEqual([])
      expect(run?.records[0]?.actions).toEqual([
        {action: 'skip', reason: 'already-succeeded', task_id: 'extract'},
        {action: 'skip', reason: 'already-succeeded', task_id: 'aggregate'},
        {action: 'skip', reason: 'already-failed', task_id: 'clean'},
        {action: 'skip', reason: 'already-failed', task_id: 'load'},
        {action: 'skip', reason: 'already-failed', task_id: 'notify'},
      ])
    })

    it('--rerun-failed-tasks re-runs failed TIs and their downstream; successes stay', () => {
      const run = planBackfill(diamond, request(range('2024-01-01'), {rerunFailedTasks: true}), LATER, existing).runs[0]
      expect(run?.tasks).toEqual(['clean', 'load', 'notify'])
      expect(run?.records[0]?.actions.filter((action) => action.action === 'clear')).toEqual([
        {action: 'clear', reason: 'rerun-failed-tasks', state: 'failed', task_id: 'clean'},
        {action: 'clear', reason: 'rerun-failed-tasks', state: 'upstream_failed', task_id: 'load'},
        {action: 'clear', reason: 'rerun-failed-tasks', state: 'upstream_failed', task_id: 'notify'},
      ])
    })

    it('--reset-dagruns clears and re-runs every selected TI', () => {
      const run = planBackfill(diamond, request(range('2024-01-01'), {resetDagRuns: true}), LATER, existing).runs[0]
      expect(run?.tasks).toEqual(['extract', 'aggregate', 'clean', 'load', 'notify'])
      expect(run?.records[0]?.actions.map((action) => `${action.action}:${'reason' in action ? action.reason : ''}`)).toEqual(Array(5).fill('clear:reset-dagruns'))
    })

    it('re-runs TIs left running, queued or waiting for a retry, and says it recovers them', () => {
      const stale = [{run_id: runId, task_instances: {aggregate: 'queued', clean: 'up_for_retry', extract: 'running'} as const}]
      const run = planBackfill(diamond, request(range('2024-01-01')), LATER, stale).runs[0]
      expect(run?.tasks).toEqual(['extract', 'aggregate', 'clean', 'load', 'notify'])
      expect(run?.records[0]?.actions).toEqual([
        {action: 'recover', state: 'running', task_id: 'extract'},
        {action: 'recover', state: 'queued', task_id: 'aggregate'},
        {action: 'recover', state: 'up_for_retry', task_id: 'clean'},
        {action: 'run', task_id: 'load'},
        {action: 'run', task_id: 'notify'},
      ])
    })
  })
})
