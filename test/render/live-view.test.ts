import {describe, expect, it} from '@jest/globals'
import {Writable} from 'node:stream'

import type {BackfillEvent} from '../../src/core/events.js'
import {createBackfillView} from '../../src/render/backfill-view.js'
import {frameOf} from '../../src/render/live-frame.js'
import {BackfillProgress} from '../../src/render/progress.js'

const excluded = {after_end_date: 0, before_start_date: 0, not_yet_due: 0}
const TASKS = ['extract', 'clean', 'enrich', 'load']

/** `count` hourly runs starting 2024-01-01T00:00Z, labelled as a Europe/Berlin DAG would label them. */
function hourlyRuns(count: number) {
  return Array.from({length: count}, (_, index) => {
    const instant = new Date(Date.UTC(2024, 0, 1, index))
    const local = new Date(instant.getTime() + 3_600_000).toISOString()
    return {label: `${local.slice(0, 10)} ${local.slice(11, 16)} +01:00`, logical_date: instant.toISOString(), logical_dates: [instant.toISOString()], partition_key: null, run_id: `backfill__${instant.toISOString()}`, tasks: TASKS}
  })
}

type Run = ReturnType<typeof hourlyRuns>[number]

const started = (runs: Run[]): BackfillEvent => ({dag_id: 'hourly', excluded, runs: runs.map((run) => ({...run, left_failed: false})), timezone: 'Europe/Berlin', type: 'backfill_started'})
const runStarted = (run: Run): BackfillEvent => ({label: run.label, logical_date: run.logical_date, run_id: run.run_id, type: 'run_started'})
const taskState = (run: Run, taskId: string, state: 'failed' | 'queued' | 'running' | 'success'): BackfillEvent => ({
  duration_ms: 10,
  log_path: null,
  logical_date: run.logical_date,
  reason: state === 'failed' ? 'exit-non-zero' : null,
  run_id: run.run_id,
  state,
  task_id: taskId,
  try_number: 1,
  type: 'task_state',
})
const runFinished = (run: Run, state: 'failed' | 'success'): BackfillEvent => ({duration_ms: 1500, label: run.label, logical_date: run.logical_date, run_id: run.run_id, state, type: 'run_finished'})

/** Progress of a backfill of `total` runs where the first `done` finished (every tenth failed) and `inFlight` run. */
function progressOf(total: number, done: number, inFlight: number): {progress: BackfillProgress; runs: Run[]} {
  const runs = hourlyRuns(total)
  const progress = new BackfillProgress()
  progress.apply(started(runs))
  for (const [index, run] of runs.slice(0, done).entries()) {
    progress.apply(runStarted(run))
    for (const task of TASKS) progress.apply(taskState(run, task, 'success'))
    progress.apply(runFinished(run, index % 10 === 3 ? 'failed' : 'success'))
  }

  for (const run of runs.slice(done, done + inFlight)) {
    progress.apply(runStarted(run))
    progress.apply(taskState(run, 'extract', 'running'))
    progress.apply(taskState(run, 'clean', 'queued'))
  }

  return {progress, runs}
}

const lineCount = (frame: ReturnType<typeof frameOf>) => 2 + frame.finished.length + frame.inFlight.join('\n').split('\n').filter(Boolean).length

describe('live frame', () => {
  it('fits a 744-date backfill with 16 dates in flight on a 30-row screen, keeping every date in flight', () => {
    const {progress, runs} = progressOf(744, 300, 16)
    const frame = frameOf(progress, {columns: 120, rows: 30}, false)
    expect(lineCount(frame)).toBeLessThanOrEqual(29)
    expect(frame.header).toBe('Backfill hourly · 744 date(s) · Europe/Berlin')
    expect(frame.footer).toContain('300/744 dates done')
    const inFlight = frame.inFlight.join('\n')
    for (const run of runs.slice(300, 316)) expect(inFlight).toContain(run.label)
    // 300 finished dates cannot each have a line: they become counts and the list of failed dates.
    expect(frame.finishedCollapsed).toBe(true)
    expect(frame.finished[0]).toContain('300 date(s): 270 success · 30 failed')
    expect(frame.finished[1]).toContain(`failed: ${runs[3]!.label}, ${runs[13]!.label}`)
    expect(frame.finished[1]).toMatch(/\(\+\d+ more\)$/)
  })

  it('gives finished dates a line each while they fit, and shows the tasks of dates in flight', () => {
    const {progress, runs} = progressOf(10, 3, 2)
    const frame = frameOf(progress, {columns: 120, rows: 30}, false)
    expect(frame.finished).toEqual([
      `✔ ${runs[0]!.label}  success 1.5s`,
      `✔ ${runs[1]!.label}  success 1.5s`,
      `✔ ${runs[2]!.label}  success 1.5s`,
    ])
    expect(frame.inFlight).toEqual([`${runs[3]!.label}  running\n› extract running\n› clean queued`, `${runs[4]!.label}  running\n› extract running\n› clean queued`])
  })

  it('stays within a tiny screen: more dates in flight than rows are summarised on one line', () => {
    const {progress, runs} = progressOf(100, 0, 40)
    const frame = frameOf(progress, {columns: 80, rows: 10}, false)
    expect(lineCount(frame)).toBeLessThanOrEqual(9)
    expect(frame.inFlight.at(-1)).toContain('more date(s) in flight')
    expect(frame.inFlight[0]).toContain(runs[0]!.label)
  })

  it('keeps finished dates collapsed once they were, instead of flickering between forms', () => {
    const {progress} = progressOf(10, 3, 0)
    expect(frameOf(progress, {columns: 120, rows: 30}, false).finishedCollapsed).toBe(false)
    expect(frameOf(progress, {columns: 120, rows: 30}, true).finished).toHaveLength(1)
  })

  it('says the dates were already complete when there was nothing to run', () => {
    const runs = hourlyRuns(2).map((run) => ({...run, tasks: []}))
    const progress = new BackfillProgress()
    progress.apply(started(runs))
    for (const run of runs) {
      progress.apply(runStarted(run))
      progress.apply({duration_ms: 0, label: run.label, logical_date: run.logical_date, run_id: run.run_id, state: 'success', type: 'run_finished'})
    }

    const frame = frameOf(progress, {columns: 120, rows: 30}, false)
    expect(frame.finished).toEqual(runs.map((run) => `✔ ${run.label}  already complete`))
    expect(frame.footer).toBe('2/2 dates done · nothing to run: the dates were already complete')
  })
})

/** A stream that says it is a terminal of the given size and keeps what was written. */
function terminal(rows: number) {
  let written = ''
  const out = Object.assign(
    new Writable({
      write(chunk, _encoding, callback) {
        written += String(chunk)
        callback()
      },
    }),
    {columns: 120, isTTY: true, rows},
  )
  return {out, written: () => written}
}

describe('tree view on a terminal', () => {
  it('ends with the header, the finished dates and the totals, whatever order listr2 started in', async () => {
    const runs = hourlyRuns(3)
    const {out, written} = terminal(30)
    const view = createBackfillView('tree', out, 2)
    view.handle(started(runs))
    for (const run of runs) {
      view.handle(runStarted(run))
      view.handle(taskState(run, 'extract', 'success'))
      view.handle(runFinished(run, run === runs[1] ? 'failed' : 'success'))
    }

    await view.finish()
    const text = written()
    expect(text).toContain('Backfill hourly · 3 date(s) · Europe/Berlin')
    expect(text).toContain(`✖ ${runs[1]!.label}  failed 1.5s`)
    expect(text).toContain('3/3 dates done · 3 success')
  })

  it('marks the dates an interruption stopped as not finished, including those never started', async () => {
    const runs = hourlyRuns(3)
    const {out, written} = terminal(30)
    const view = createBackfillView('tree', out, 3)
    view.handle(started(runs))
    view.handle(runStarted(runs[0]!))
    view.handle(taskState(runs[0]!, 'extract', 'running'))
    view.handle({signal: 'SIGINT', type: 'interrupt_requested'})
    await view.finish()
    const text = written()
    expect(text).toContain(`◼ ${runs[0]!.label}  not finished`)
    expect(text).toContain('0/3 dates done')
    expect(text).toContain('interrupted by SIGINT')
    expect(text).not.toMatch(new RegExp(`${runs[0]!.label}\\s+running\\s*$`))
  })

  it('draws a bounded number of lines per frame on a 744-date backfill', async () => {
    const runs = hourlyRuns(744)
    const {out, written} = terminal(30)
    const view = createBackfillView('tree', out, 16)
    view.handle(started(runs))
    for (const [index, run] of runs.entries()) {
      view.handle(runStarted(run))
      for (const task of TASKS) view.handle(taskState(run, task, 'success'))
      view.handle(runFinished(run, index === 5 ? 'failed' : 'success'))
    }

    await view.finish()
    // The final frame (after the last erase) is what stays on the screen.
    const lastFrame = written().split('\u001B[G').at(-1) ?? ''
    const lines = lastFrame.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('\u001B[?25'))
    expect(lines.length).toBeLessThanOrEqual(29)
    expect(lastFrame).toContain('744/744 dates done')
    expect(lastFrame).toContain(`failed: ${runs[5]!.label}`)
  })
})
