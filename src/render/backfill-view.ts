import {Listr, type ListrTaskWrapper} from 'listr2'

import type {BackfillEvent} from '../core/events.js'
import {formatDuration, paintState} from './format.js'

/** How progress is shown: a live tree on a terminal, one line per change otherwise, nothing with `--json`. */
export type ViewMode = 'lines' | 'silent' | 'tree'

/** Picks the view from where output goes; listr2's own choice looks at the TTY only, so it is made here. */
export function pickViewMode(options: {isTTY: boolean; json: boolean}): ViewMode {
  if (options.json) return 'silent'
  return options.isTTY ? 'tree' : 'lines'
}

/** A live view of a backfill, fed by events. */
export interface BackfillView {
  /** Waits until the view has drawn its last frame. */
  finish(): Promise<void>
  handle(event: BackfillEvent): void
}

/** Builds the view for a mode, writing to `out`. */
export function createBackfillView(mode: ViewMode, out: NodeJS.WritableStream, maxActiveRuns: number): BackfillView {
  switch (mode) {
    case 'lines': {
      return new LinesView(out)
    }

    case 'silent': {
      return {finish: async () => {}, handle() {}}
    }

    case 'tree': {
      return new TreeView(maxActiveRuns)
    }
  }
}

/** One plain line per state change: no cursor movement, safe for CI logs and pipes. */
class LinesView implements BackfillView {
  constructor(private readonly out: NodeJS.WritableStream) {}

  async finish(): Promise<void> {}

  handle(event: BackfillEvent): void {
    const line = describeEvent(event)
    if (line !== null) this.out.write(`${line}\n`)
  }
}

function describeEvent(event: BackfillEvent): null | string {
  switch (event.type) {
    case 'backfill_started': {
      const total = event.runs.reduce((sum, run) => sum + run.tasks.length, 0)
      return `Backfilling ${event.dag_id}: ${event.runs.length} logical date(s), ${total} task instance(s) to run`
    }

    case 'interrupt_requested': {
      return `Interrupted (${event.signal}): stopping running task instances…`
    }

    case 'run_finished': {
      return `${event.logical_date} ${paintState(event.state)} (${formatDuration(event.duration_ms)})`
    }

    case 'run_started': {
      return `${event.logical_date} ${paintState('running')}`
    }

    case 'task_state': {
      const detail = [
        event.try_number > 1 ? `try ${event.try_number}` : '',
        event.reason ?? '',
        event.duration_ms === null || event.state === 'running' || event.state === 'queued' ? '' : formatDuration(event.duration_ms),
      ].filter(Boolean)
      return `${event.logical_date} ${event.task_id} ${paintState(event.state)}${detail.length > 0 ? ` (${detail.join(', ')})` : ''}`
    }
  }
}

interface RunRow {
  failure?: Error
  finished: boolean
  logicalDate: string
  state: string
  taskStates: Map<string, string>
  task?: ListrTaskWrapper<unknown, never, never>
  resolve?: () => void
  reject?: (error: Error) => void
}

/**
 * The listr2 tree: a row per logical date whose running tasks are listed beneath it, and a totals footer.
 * listr2 redraws at its own frame rate, so bursts of events cost a title update each, not a repaint.
 */
class TreeView implements BackfillView {
  private closed = false
  private completion: Promise<unknown> = Promise.resolve()
  private readonly rows = new Map<string, RunRow>()
  private readonly totals = new Map<string, number>()
  private totalDates = 0
  private finishedDates = 0
  private footer: {resolve?: () => void; task?: {title: string}} = {}

  constructor(private readonly maxActiveRuns: number) {}

  async finish(): Promise<void> {
    this.closed = true
    this.footer.resolve?.()
    // Rows of an interrupted backfill end here; listr2 may still start some of them, which then settle at once.
    for (const row of this.rows.values()) {
      if (row.finished) continue
      row.finished = true
      row.failure = new Error('interrupted')
      row.state = paintState('not finished')
      this.refresh(row)
      this.settle(row)
    }

    await this.completion.catch(() => {})
  }

  handle(event: BackfillEvent): void {
    switch (event.type) {
      case 'backfill_started': {
        this.start(event)
        break
      }

      case 'interrupt_requested': {
        if (this.footer.task) this.footer.task.title = `Interrupted (${event.signal}): stopping running task instances…`
        return
      }

      case 'run_finished': {
        const row = this.rows.get(event.run_id)
        if (!row) return
        row.finished = true
        row.state = `${paintState(event.state)} ${formatDuration(event.duration_ms)}`
        this.finishedDates++
        this.refresh(row)
        if (event.state !== 'success') {
          const failed = [...row.taskStates].filter(([, state]) => state === 'failed' || state === 'upstream_failed')
          row.failure = new Error(failed.map(([taskId, state]) => `${taskId} ${state}`).join(', ') || event.state)
        }

        this.settle(row)
        break
      }

      case 'run_started': {
        const row = this.rows.get(event.run_id)
        if (row) {
          row.state = paintState('running')
          this.refresh(row)
        }

        break
      }

      case 'task_state': {
        const row = this.rows.get(event.run_id)
        const previous = row?.taskStates.get(event.task_id)
        if (previous) this.totals.set(previous, (this.totals.get(previous) ?? 1) - 1)
        this.totals.set(event.state, (this.totals.get(event.state) ?? 0) + 1)
        row?.taskStates.set(event.task_id, event.state)
        if (row) this.refresh(row)
        break
      }
    }

    this.refreshFooter()
  }

  /** Ends the row's listr2 task; listr2 may start the task after the run already finished. */
  private settle(row: RunRow): void {
    if (row.failure) row.reject?.(row.failure)
    else row.resolve?.()
  }

  private refresh(row: RunRow): void {
    if (!row.task) return
    row.task.title = `${row.logicalDate}  ${row.state}`
    const active = [...row.taskStates].filter(([, state]) => !['none', 'skipped', 'success'].includes(state))
    row.task.output = row.finished ? '' : active.map(([taskId, state]) => `${taskId} ${paintState(state)}`).join('\n')
  }

  private refreshFooter(): void {
    if (!this.footer.task) return
    const byState = [...this.totals].filter(([, count]) => count > 0).map(([state, count]) => `${count} ${paintState(state)}`)
    this.footer.task.title = `${this.finishedDates}/${this.totalDates} dates done · ${byState.join(' · ') || 'no task instance has run yet'}`
  }

  private start(event: Extract<BackfillEvent, {type: 'backfill_started'}>): void {
    this.totalDates = event.runs.length
    for (const run of event.runs) {
      this.rows.set(run.run_id, {finished: false, logicalDate: run.logical_date, state: paintState('queued'), taskStates: new Map()})
    }

    const runTasks = event.runs.map((run) => ({
      task: (_context: unknown, task: ListrTaskWrapper<unknown, never, never>) =>
        new Promise<void>((resolve, reject) => {
          const row = this.rows.get(run.run_id) as RunRow
          Object.assign(row, {reject, resolve, task})
          this.refresh(row)
          if (row.finished) this.settle(row)
        }),
      title: run.logical_date,
    }))
    const listr = new Listr(
      [
        {task: (_context, task) => task.newListr(runTasks as never, {concurrent: this.maxActiveRuns, exitOnError: false}), title: `Backfill ${event.dag_id}`},
        {
          task: (_context, task) =>
            new Promise<void>((resolve) => {
              this.footer = {resolve, task}
              this.refreshFooter()
              // The backfill may be over before listr2 gets here.
              if (this.closed) resolve()
            }),
          title: 'totals',
        },
      ],
      // listr2 would otherwise exit the process with 127 on Ctrl-C; the backfill stops cleanly itself.
      {concurrent: true, exitOnError: false, registerSignalListeners: false, rendererOptions: {collapseErrors: false, collapseSubtasks: false}},
    )
    this.completion = listr.run()
  }
}
