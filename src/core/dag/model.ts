import type {DurationInput} from '../schedule/duration.js'
import type {Schedule} from '../schedule/timetable.js'

/**
 * What a task receives at run time: Airflow's template variables, plus the run's partition key and every date
 * it covers. A run of several dates (a batch) reads as its first date, with the interval of the whole batch; a
 * key-only run has no date, so its date variables are null.
 */
export interface TaskContext {
  dag_id: string
  data_interval_end: null | string
  data_interval_start: null | string
  ds: null | string
  /** `ds` of every date the run covers, oldest first. */
  ds_list: string[]
  ds_nodash: null | string
  logical_date: null | string
  /** Every logical date the run covers, oldest first (UTC instants). */
  logical_dates: string[]
  params: Record<string, unknown>
  partition_key: null | string
  run_id: string
  /** Aborted when the task times out or the backfill is interrupted. */
  signal: AbortSignal
  task_id: string
  try_number: number
  ts: null | string
  ts_nodash: null | string
}

/** A task's Python-callable counterpart: any function, sync or async, given the context. */
export type TaskCallable = (context: TaskContext) => unknown

/** Per-task settings that `default_args` can also provide. */
export interface TaskDefaults {
  depends_on_past?: boolean
  execution_timeout?: DurationInput
  /** Running tries of this task across all runs of the DAG at once (README "Pools"); unlimited by default. */
  max_active_tis_per_dag?: number
  /** The pool whose slots a try holds from queued until it ends (README "Pools"); `default_pool` by default. */
  pool?: string
  pool_slots?: number
  priority_weight?: number
  retries?: number
  retry_delay?: DurationInput
  weight_rule?: WeightRule
}

/** How a task's priority adds up (Airflow's weight_rule): with all its downstream weights, its upstream ones, or alone. */
export type WeightRule = 'absolute' | 'downstream' | 'upstream'

export const DEFAULT_POOL = 'default_pool'

/** One task as written in a DAG file: exactly one of `bash_command` or `callable`. */
export interface TaskDefinition extends TaskDefaults {
  bash_command?: string
  callable?: TaskCallable
  doc?: string
  env?: Record<string, string>
  task_id: string
  upstream?: string[]
}

/** How many dates one run covers (README "Backfill policies"): all selected dates, or at most `max_dates_per_run`. */
export type BackfillPolicyDefinition = 'single_run' | {max_dates_per_run: number}

/** What a sensor's poll is given (README "Launching from code"): `now` from the scheduler's clock, `last` its previous launch or null. */
export interface SensorContext {
  dag_id: string
  /**
   * The previous request this sensor launched, with its record's `backfill_id` and `state` as they read now; the
   * request's fields are also under `request`. Null before its first launch.
   */
  last: null | (Record<string, unknown> & {backfill_id: number; request: Record<string, unknown>; state: string})
  /** UTC ISO instant. */
  now: string
  sensor_id: string
}

/** What a sensor asks the scheduler to backfill: the selection options of `backfill()` for its DAG (README "Running the scheduler"). */
export interface SensorRequest {
  conf?: Record<string, unknown> | undefined
  dates?: Array<Date | string> | undefined
  end?: Date | string | undefined
  from?: string | undefined
  partitions?: string[] | undefined
  start?: Date | string | undefined
  tags?: Record<string, string> | undefined
  taskRegex?: RegExp | string | undefined
  to?: string | undefined
}

/** Looks for something to do; a request launches a backfill, null launches nothing. */
export type SensorPoll = (ctx: SensorContext) => null | Promise<null | SensorRequest | undefined> | SensorRequest | undefined

/** A sensor as written in a DAG file (Dagster's sensor): polled every `every` by `updraft scheduler`. */
export interface SensorDefinition {
  every: DurationInput
  poll: SensorPoll
  sensor_id: string
}

/** A DAG as written in a DAG file (the default export). */
export interface DagDefinition {
  backfill_policy?: BackfillPolicyDefinition
  /** Whether the scheduler starts every due interval since the last (true, the default) or only the latest. */
  catchup?: boolean
  dag_id?: string
  default_args?: TaskDefaults
  description?: string
  end_date?: Date | string
  /** Whether the scheduler finds the DAG paused the first time it sees it (default false). */
  is_paused_upon_creation?: boolean
  max_active_runs?: number
  /** Running task instances of one run at once (README "Pools"); unlimited by default. */
  max_active_tasks?: number
  params?: Record<string, unknown>
  /** Static partition keys, in the order their runs go (README "Partitions"). */
  partitions?: string[]
  schedule?: DurationInput | null | string
  schedule_interval?: DurationInput | null | string
  sensors?: SensorDefinition[]
  /** Required unless the DAG is key-only (`schedule_interval: null` with `partitions`). */
  start_date?: Date | string
  tags?: string[]
  tasks: TaskDefinition[]
  timezone?: string
}

/** A validated sensor. */
export interface Sensor {
  everyMs: number
  poll: SensorPoll
  sensorId: string
}

/** A validated task with defaults applied. */
export interface Task {
  bashCommand: null | string
  callable: null | TaskCallable
  dependsOnPast: boolean
  env: Record<string, string>
  executionTimeoutMs: null | number
  /** Null: no cap. */
  maxActiveTisPerDag: null | number
  pool: string
  poolSlots: number
  /** The weight after `weight_rule`: what orders ready task instances waiting for a pool. */
  priorityWeight: number
  retries: number
  retryDelayMs: number
  taskId: string
  upstream: string[]
}

/** A validated DAG; instants are UTC ISO strings and `tasks` are in topological order (ties by id). */
export interface Dag {
  /** Dates one run covers at most: 1 by default, null for `single_run`. */
  batchSize: null | number
  catchup: boolean
  dagId: string
  description: null | string
  endDate: null | string
  /** Absolute path of the file the DAG came from. */
  fileloc: string
  isPausedUponCreation: boolean
  maxActiveRuns: number
  /** Null: no cap. */
  maxActiveTasks: null | number
  params: Record<string, unknown>
  /** Static partition keys in declared order; empty without partitions. */
  partitions: string[]
  schedule: Schedule
  sensors: Sensor[]
  /** UTC ISO instant; null only for a key-only DAG that gives none. */
  startDate: null | string
  tasks: Task[]
  timezone: string
  /** Problems that do not stop the DAG from loading, e.g. a value from outside reaching the shell unquoted. */
  warnings: string[]
}

export const DEFAULT_MAX_ACTIVE_RUNS = 16
