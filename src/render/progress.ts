import type {BackfillEvent} from '../core/events.js'

/** What a task instance waiting for slots shows, in the live view and in plain lines. */
export function waitText(wait: {pool: string; slots: number; used: number}): string {
  return `waiting for pool ${wait.pool} (${wait.used}/${wait.slots} in use)`
}
import {runCountText, runNoun} from './format.js'

/** One logical date as the live view knows it. */
export interface RunProgress {
  durationMs: null | number
  label: string
  /** True when the date had nothing left to run because it was already complete. */
  nothingToDo: boolean
  runId: string
  state: string
  /** Task states while the run is in flight; emptied once it finishes. */
  tasks: Map<string, string>
  /** Why ready tasks of the run wait (`waiting for pool warehouse (3/3 in use)`), until they are queued. */
  waits: Map<string, string>
}

/**
 * What the live view draws, folded from events in O(1) per event: the dates in flight (in start order), the
 * finished ones, and totals. Drawing is separate (see `frameOf`), so a burst of events costs no drawing.
 */
export class BackfillProgress {
  /** Set once the backfill is over and nothing more will happen. */
  closed = false
  dagId = ''
  /** Dates that finished (not those stopped by an interruption). */
  doneRuns = 0
  readonly failed: RunProgress[] = []
  readonly finished: RunProgress[] = []
  readonly finishedByState = new Map<string, number>()
  readonly inFlight = new Map<string, RunProgress>()
  interruptedBy: null | string = null
  /** Paused (README "Requests and the scheduler"): running task instances finish, nothing new starts. */
  paused = false
  /** Task instances by their current state, across every date. */
  readonly taskTotals = new Map<string, number>()
  timezone = 'UTC'
  totalRuns = 0
  /** Task instances waiting for slots in a pool, across every date. */
  waitingForPools = 0
  /** `dates` when each run is one date, `runs` with keys or batches. */
  runNoun = 'dates'
  /** The header's count: `12 date(s)` or `6 run(s) over 2 date(s)`. */
  runCount = ''
  private readonly withoutWork = new Set<string>()

  apply(event: BackfillEvent): void {
    switch (event.type) {
      case 'backfill_started': {
        this.dagId = event.dag_id
        this.timezone = event.timezone
        this.totalRuns = event.runs.length
        this.runNoun = runNoun(event.runs)
        this.runCount = runCountText(event.runs, 'date(s)')
        for (const run of event.runs) if (run.tasks.length === 0 && !run.left_failed) this.withoutWork.add(run.run_id)
        return
      }

      case 'interrupt_requested': {
        this.interruptedBy = event.signal
        return
      }

      case 'pause_changed': {
        this.paused = event.paused
        return
      }

      case 'run_finished': {
        const run = this.inFlight.get(event.run_id) ?? this.startRun(event.run_id, event.label)
        this.inFlight.delete(event.run_id)
        run.state = event.state
        run.durationMs = event.duration_ms
        this.forgetWaits(run)
        this.finished.push(run)
        this.doneRuns++
        if (event.state !== 'success') this.failed.push(run)
        const key = run.nothingToDo ? 'already complete' : event.state
        this.finishedByState.set(key, (this.finishedByState.get(key) ?? 0) + 1)
        return
      }

      case 'run_started': {
        this.startRun(event.run_id, event.label)
        return
      }

      case 'task_waiting': {
        const run = this.inFlight.get(event.run_id)
        if (!run) return
        if (!run.waits.has(event.task_id)) this.waitingForPools++
        run.waits.set(event.task_id, waitText(event))
        return
      }

      case 'task_refused': {
        return
      }

      case 'task_state': {
        const run = this.inFlight.get(event.run_id)
        if (run?.waits.delete(event.task_id)) this.waitingForPools--
        const previous = run?.tasks.get(event.task_id)
        if (previous !== undefined) this.taskTotals.set(previous, (this.taskTotals.get(previous) ?? 1) - 1)
        this.taskTotals.set(event.state, (this.taskTotals.get(event.state) ?? 0) + 1)
        run?.tasks.set(event.task_id, event.state)
      }
    }
  }

  /** True when every date finished and none failed; dates a stop left unfinished are not a success. */
  get succeeded(): boolean {
    return this.failed.length === 0 && this.inFlight.size === 0 && this.finished.length === this.totalRuns && !this.finishedByState.has('not finished')
  }

  /** Ends the dates still in flight as not finished (the backfill stopped), so no row claims to be running. */
  close(): void {
    this.closed = true
    for (const run of this.inFlight.values()) {
      run.state = 'not finished'
      this.forgetWaits(run)
      this.finished.push(run)
      this.finishedByState.set(run.state, (this.finishedByState.get(run.state) ?? 0) + 1)
    }

    this.inFlight.clear()
  }

  private forgetWaits(run: RunProgress): void {
    this.waitingForPools -= run.waits.size
    run.waits.clear()
    run.tasks.clear()
  }

  private startRun(runId: string, label: string): RunProgress {
    const run: RunProgress = {durationMs: null, label, nothingToDo: this.withoutWork.has(runId), runId, state: 'running', tasks: new Map(), waits: new Map()}
    this.inFlight.set(runId, run)
    return run
  }
}
