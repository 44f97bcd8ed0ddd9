/** Where a task instance stands; Airflow's names. */
export type TaskInstanceState =
  | 'failed'
  | 'none'
  | 'queued'
  | 'running'
  | 'scheduled'
  | 'skipped'
  | 'success'
  | 'up_for_retry'
  | 'upstream_failed'

/** Where a DAG run stands. */
export type DagRunState = 'failed' | 'queued' | 'running' | 'success'

/** States a backfill leaves alone unless told otherwise. */
export const DONE_STATES: ReadonlySet<TaskInstanceState> = new Set(['skipped', 'success'])

/** States that count as a failure of the run. */
export const FAILED_STATES: ReadonlySet<TaskInstanceState> = new Set(['failed', 'upstream_failed'])
