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

/** Why a task instance attempt ended the way it did. */
export type AttemptReason =
  | 'depends-on-past'
  | 'exception'
  | 'exit-non-zero'
  | 'interrupted'
  | 'marked-success'
  | 'spawn-error'
  | 'timeout'
  | 'upstream-failed'

/** One finished attempt of a task instance, kept so an interruption or retry is never silently forgotten. */
export interface AttemptRecord {
  end_date: null | string
  exit_code: null | number
  log_path: null | string
  reason: AttemptReason | null
  start_date: null | string
  state: TaskInstanceState
  try_number: number
}

/** A task instance as stored; instants are UTC ISO strings. */
export interface TaskInstanceRecord {
  /** The run id of the batch that ran this instance together with other dates' (§10), or null. */
  batch_run_id: null | string
  duration_ms: null | number
  end_date: null | string
  exit_code: null | number
  history: AttemptRecord[]
  log_path: null | string
  /** While queued: the backfill process; while running: the task's process group (the backfill for callables). */
  pid: null | number
  reason: AttemptReason | null
  start_date: null | string
  state: TaskInstanceState
  try_number: number
}

/**
 * A DAG run as stored, with its task instances keyed by task id: one per logical date and partition key, even
 * when a batch ran several dates at once. A key-only run has no logical date or interval.
 */
export interface DagRunRecord {
  conf: Record<string, unknown>
  data_interval_end: null | string
  data_interval_start: null | string
  end_date: null | string
  logical_date: null | string
  partition_key: null | string
  run_id: string
  start_date: null | string
  state: DagRunState
  task_instances: Record<string, TaskInstanceRecord>
}

/** The runs of one DAG keyed by run id. */
export interface DagState {
  runs: Record<string, DagRunRecord>
}

export const SCHEMA_VERSION = 2

/** The whole state file. */
export interface StateFile {
  dags: Record<string, DagState>
  schema_version: number
}

/** A change to the state of one DAG, as plain data so it can be journaled and replayed. */
export type StateChange =
  | {dag_id: string; run: DagRunRecord; type: 'run'}
  | {dag_id: string; run_id: string; task_id: string; ti: TaskInstanceRecord; type: 'task_instance'}
  | {dag_id: string; end_date: null | string; run_id: string; start_date: null | string; state: DagRunState; type: 'run_state'}

/** Applies one change to a state file in memory. */
export function applyChange(file: StateFile, change: StateChange): void {
  const dag = (file.dags[change.dag_id] ??= {runs: {}})
  switch (change.type) {
    case 'run': {
      dag.runs[change.run.run_id] = change.run
      return
    }

    case 'run_state': {
      const run = dag.runs[change.run_id]
      if (run) Object.assign(run, {end_date: change.end_date, start_date: change.start_date, state: change.state})
      return
    }

    case 'task_instance': {
      const run = dag.runs[change.run_id]
      if (run) run.task_instances[change.task_id] = change.ti
      return
    }
  }
}

/** A task instance that has never run. */
export function blankTaskInstance(): TaskInstanceRecord {
  return {batch_run_id: null, duration_ms: null, end_date: null, exit_code: null, history: [], log_path: null, pid: null, reason: null, start_date: null, state: 'none', try_number: 0}
}

/**
 * Brings a state file written by an older release up to this schema, in place. Version 2 added partitions and
 * batches: a run's `partition_key` and a task instance's `batch_run_id`, both null for what older releases wrote.
 * Filling in only what is missing makes it safe to apply twice, e.g. to a journal replayed on top.
 */
export function migrateStateFile(file: StateFile): StateFile {
  for (const dag of Object.values(file.dags)) {
    for (const run of Object.values(dag.runs)) {
      run.partition_key ??= null
      for (const ti of Object.values(run.task_instances)) ti.batch_run_id ??= null
    }
  }

  file.schema_version = SCHEMA_VERSION
  return file
}
