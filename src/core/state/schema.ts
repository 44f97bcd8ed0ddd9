import type {KeySelection} from '../run/selection.js'
import type {DateSelection} from '../schedule/resolve-dates.js'

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
  | 'cancelled'
  | 'dag-version-mismatch'
  | 'depends-on-past'
  | 'exception'
  | 'exit-non-zero'
  | 'interrupted'
  | 'marked-success'
  | 'pool'
  | 'spawn-error'
  | 'timeout'
  | 'upstream-failed'
  | 'worker-lost'

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
  /** The run id of the batch that ran this instance together with other dates' (README "Backfill policies"), or null. */
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

/** Where a backfill stands (README "Backfills as records"); `interrupted` also reads for a `running` one whose process is gone. */
/** `queued`: a request no process has taken yet (README "Requests and the scheduler"); `paused`: it starts no new task instance until unpaused. */
export type BackfillState = 'cancelled' | 'failed' | 'interrupted' | 'paused' | 'queued' | 'running' | 'success'

/** A backfill's request as parsed, in plain data: what `backfills resume` runs again. */
export interface StoredRequest {
  batch_size: null | number
  conf: Record<string, unknown>
  /** The date selection as parsed (calendar values with the text typed), or null for a key-only DAG. */
  dates: DateSelection | null
  disable_retry: boolean
  ignore_dependencies: boolean
  /** The key selection as parsed. */
  keys: KeySelection
  mark_success: boolean
  max_active_runs: number
  rerun_failed_tasks: boolean
  reset_dagruns: boolean
  run_backwards: boolean
  /** Labels of the launch, e.g. `{sensor: 'new_files'}` (README "Launching from code"); absent on records written before tags. */
  tags?: Record<string, string>
  task_regex: null | {flags: string; source: string}
}

/** One process's go at a backfill: the first run, then each resume. */
export interface BackfillAttempt {
  finished_at: null | string
  host: string
  pid: number
  started_at: string
  state: BackfillState
}

/** A backfill as a record (README "Backfills as records"), in the section of its DAG. */
export interface BackfillRecord {
  counts: Partial<Record<TaskInstanceState, number>>
  created_at: string
  dag_id: string
  finished_at: null | string
  /** Every go at it, oldest first; the last is the one the record's pid and host name. */
  history: BackfillAttempt[]
  host: string
  id: number
  /** `request`: created by `backfill create` (README "Requests and the scheduler"), so the scheduler runs it, and carries it on if its process dies. */
  origin?: 'request'
  pid: number
  request: StoredRequest
  /** The run records it covers, one per date (and key). */
  run_ids: string[]
  /** How many of them had finished when it last stopped, so listing records reads no runs; absent while it runs. */
  runs_done?: number
  state: BackfillState
}

/** The runs of one DAG keyed by run id, and its backfills keyed by id. */
export interface DagState {
  backfills?: Record<string, BackfillRecord>
  runs: Record<string, DagRunRecord>
}

/**
 * 3: the embedded store as a catalog and shards of runs (README "Where state lives"); 2 added partitions and batches to the single
 * state file that 1 and 2 were.
 */
export const SCHEMA_VERSION = 3

/** What is set on a DAG rather than recorded by its runs: whether the scheduler runs it (README "Running the scheduler"). */
export interface DagSettings {
  is_paused: boolean
}

/** The whole state: the single file of schema 1 and 2, and what `readWholeState` assembles from a store. */
export interface StateFile {
  /** Per DAG, once paused or unpaused, or first seen by the scheduler; written under the file's lock. */
  dag_settings?: Record<string, DagSettings>
  dags: Record<string, DagState>
  schema_version: number
}

/** A change to the state of one DAG, as plain data so it can be journaled and replayed. */
export type StateChange =
  | {dag_id: string; run: DagRunRecord; type: 'run'}
  | {dag_id: string; run_id: string; task_id: string; ti: TaskInstanceRecord; type: 'task_instance'}
  | {dag_id: string; end_date: null | string; run_id: string; start_date: null | string; state: DagRunState; type: 'run_state'}
  | {backfill: BackfillRecord; dag_id: string; type: 'backfill'}

/** Applies one change to a state file in memory. */
export function applyChange(file: StateFile, change: StateChange): void {
  const dag = (file.dags[change.dag_id] ??= {runs: {}})
  switch (change.type) {
    case 'run': {
      dag.runs[change.run.run_id] = change.run
      return
    }

    case 'backfill': {
      dag.backfills ??= {}
      dag.backfills[String(change.backfill.id)] = change.backfill
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
 * Brings the runs of a state file written by an older release up to this schema, in place. Version 2 added
 * partitions and batches: a run's `partition_key` and a task instance's `batch_run_id`, both null before.
 * Filling in only what is missing makes it safe to apply twice, e.g. to a journal replayed on top.
 */
export function migrateStateFile(file: StateFile): StateFile {
  for (const dag of Object.values(file.dags)) {
    for (const run of Object.values(dag.runs)) {
      run.partition_key ??= null
      for (const ti of Object.values(run.task_instances)) ti.batch_run_id ??= null
    }
  }

  return file
}
