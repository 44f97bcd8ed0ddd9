import {describe, expect, it} from '@jest/globals'
import {PassThrough} from 'node:stream'

import type {BackfillSummary} from '../../src/core/executor/backfill-summary.js'
import {createBackfillView, pickViewMode} from '../../src/render/backfill-view.js'
import {summaryText} from '../../src/render/summary.js'

describe('backfill view', () => {
  it('picks the tree on a terminal, lines otherwise, and nothing with --json', () => {
    expect(pickViewMode({isTTY: true, json: false})).toBe('tree')
    expect(pickViewMode({isTTY: false, json: false})).toBe('lines')
    expect(pickViewMode({isTTY: true, json: true})).toBe('silent')
  })

  it('prints one plain line per state change, without cursor movement', () => {
    const out = new PassThrough()
    const view = createBackfillView('lines', out, 1)
    const label = '2024-01-01 01:00 +01:00'
    view.handle({
      dag_id: 'd',
      excluded: {after_end_date: 0, before_start_date: 0, not_yet_due: 0},
      runs: [
        {left_failed: false, logical_date: '2024-01-01T00:00:00.000Z', logical_dates: ['2024-01-01T00:00:00.000Z'], partition_key: null, run_id: 'r', tasks: ['a', 'b']},
        {left_failed: false, logical_date: '2024-01-01T01:00:00.000Z', logical_dates: ['2024-01-01T01:00:00.000Z'], partition_key: null, run_id: 'done', tasks: []},
      ],
      timezone: 'Europe/Berlin',
      type: 'backfill_started',
    })
    view.handle({label, logical_date: '2024-01-01T00:00:00.000Z', run_id: 'r', type: 'run_started'})
    view.handle({duration_ms: 1500, log_path: '/l', logical_date: '2024-01-01T00:00:00.000Z', reason: 'exit-non-zero', run_id: 'r', state: 'up_for_retry', task_id: 'a', try_number: 2, type: 'task_state'})
    view.handle({duration_ms: 3000, label, logical_date: '2024-01-01T00:00:00.000Z', run_id: 'r', state: 'failed', type: 'run_finished'})
    const text = String(out.read())
    expect(text.split('\n')).toEqual([
      'Backfilling d: 2 logical date(s) (Europe/Berlin), 2 task instance(s) to run; 1 date(s) already complete',
      '2024-01-01 01:00 +01:00 running',
      '2024-01-01 01:00 +01:00 a up_for_retry (try 2, exit-non-zero, 1.5s)',
      '2024-01-01 01:00 +01:00 failed (3.0s)',
      '',
    ])
    expect(text).not.toMatch(/\u001B\[/)
  })

  it('summarises dates and task instances by state with a failure table', () => {
    const summary: BackfillSummary = {
      already_complete: 0,
      counts: {runs: {failed: 1, success: 2}, task_instances: {failed: 1, success: 5}},
      dag_id: 'sales',
      excluded: {after_end_date: 0, before_start_date: 2, not_yet_due: 1},
      failed_outside_selection: [],
      failures: [{label: '2024-01-02', log_path: '/logs/x.log', logical_date: '2024-01-02T00:00:00.000Z', reason: 'timeout', run_id: 'backfill__2024-01-02T00:00:00+00:00', state: 'failed', task_id: 'load', try_number: 2}],
      backfill_id: 7,
      cancelled_by: null,
      interrupted: false,
      not_rerun: 0,
      runs: [],
      wall_ms: 61_000,
    }
    const text = summaryText(summary)
    expect(text).toContain('Backfill of sales finished with failures in 1m 01s')
    expect(text).toContain('dates:          2 success, 1 failed (0 total; 3 excluded: 2 before start_date, 0 after end_date, 1 not yet due)')
    expect(text).toMatch(/sales\s+load\s+2024-01-02\s+2\s+failed\s+timeout\s+\/logs\/x.log/)
  })
})
