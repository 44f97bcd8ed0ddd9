import type {ExcludedCounts} from './schedule/resolve-dates.js'
import type {AttemptReason, DagRunState, TaskInstanceState} from './state/schema.js'

/** What a backfill reports while it runs; every event is emitted after the state it describes was recorded. */
export type BackfillEvent =
  /** The plan was recorded and execution begins. */
  | {
      dag_id: string
      excluded: ExcludedCounts
      /** `left_failed`: the run has nothing to run because what failed in it is not run again without --rerun-failed-tasks. */
      runs: Array<{left_failed: boolean; logical_date: null | string; logical_dates: string[]; partition_key: null | string; run_id: string; tasks: string[]}>
      timezone: string
      type: 'backfill_started'
    }
  /**
   * A run entered the max_active_runs window; `label` is how it reads (its dates in the DAG's zone, its key).
   * `logical_date` is its first date, null for a key-only run.
   */
  | {label: string; logical_date: null | string; run_id: string; type: 'run_started'}
  /** A run has no task instance left to run. */
  | {duration_ms: number; label: string; logical_date: null | string; run_id: string; state: DagRunState; type: 'run_finished'}
  /** A task instance changed state. */
  | {
      duration_ms: null | number
      log_path: null | string
      logical_date: null | string
      reason: AttemptReason | null
      run_id: string
      state: TaskInstanceState
      task_id: string
      try_number: number
      type: 'task_state'
    }
  /** A ready task instance waits for slots in its pool: `used` of the pool's `slots` are held (README "Pools"). */
  | {logical_date: null | string; pool: string; run_id: string; slots: number; task_id: string; type: 'task_waiting'; used: number}
  /** A task instance waiting for slots can never get them (its pool was deleted or shrunk); it failed with reason `pool`. */
  | {message: string; run_id: string; task_id: string; type: 'task_refused'}
  /** The backfill was paused (no new task instance starts; running ones finish) or unpaused (README "Requests and the scheduler"). */
  | {paused: boolean; type: 'pause_changed'}
  /** The backfill was told to stop; running task instances are being terminated. */
  | {signal: string; type: 'interrupt_requested'}

/** Receives backfill events. */
export type BackfillListener = (event: BackfillEvent) => void

/** One listener that forwards to several (the view, a JSON collector, a test recorder). */
export function fanOut(...listeners: BackfillListener[]): BackfillListener {
  return (event) => {
    for (const listener of listeners) listener(event)
  }
}
