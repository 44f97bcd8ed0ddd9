import {describe, expect, it, jest} from '@jest/globals'

import type {BackfillEvent} from '../../src/core/events.js'
import {createBackfillView} from '../../src/render/backfill-view.js'

const excluded = {after_end_date: 0, before_start_date: 0, not_yet_due: 0}
const runs = ['2024-01-01', '2024-01-02', '2024-01-03'].map((day) => ({logical_date: `${day}T00:00:00.000Z`, run_id: `backfill__${day}`, tasks: ['a']}))

async function render(events: BackfillEvent[]): Promise<string> {
  const written: string[] = []
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk))
    return true
  })
  try {
    const view = createBackfillView('tree', process.stdout, 1)
    for (const event of events) view.handle(event)
    await view.finish()
  } finally {
    spy.mockRestore()
  }

  return written.join('')
}

describe('tree view', () => {
  it('finishes with a row per date even when dates end before listr2 reaches them', async () => {
    const output = await render([
      {dag_id: 'd', excluded, runs, type: 'backfill_started'},
      ...runs.flatMap((run): BackfillEvent[] => [
        {logical_date: run.logical_date, run_id: run.run_id, type: 'run_started'},
        {duration_ms: 5, log_path: null, logical_date: run.logical_date, reason: null, run_id: run.run_id, state: 'success', task_id: 'a', try_number: 1, type: 'task_state'},
        {duration_ms: 5, logical_date: run.logical_date, run_id: run.run_id, state: 'success', type: 'run_finished'},
      ]),
    ])
    for (const run of runs) expect(output).toContain(run.logical_date)
    expect(output).toContain('3/3 dates done')
  })

  it('settles the rows of an interrupted backfill, including those never started', async () => {
    const output = await render([
      {dag_id: 'd', excluded, runs, type: 'backfill_started'},
      {logical_date: runs[0]!.logical_date, run_id: runs[0]!.run_id, type: 'run_started'},
      {signal: 'SIGINT', type: 'interrupt_requested'},
    ])
    // Without a terminal listr2 prints each row's first title only; what matters is that finish() returned.
    for (const run of runs) expect(output).toContain(run.logical_date)
  })
})
