import type {DurationInput} from '../schedule/duration.js'
import type {Schedule} from '../schedule/timetable.js'

/** What a task receives at run time: Airflow's template variables. */
export interface TaskContext {
  dag_id: string
  data_interval_end: string
  data_interval_start: string
  ds: string
  ds_nodash: string
  logical_date: string
  params: Record<string, unknown>
  run_id: string
  /** Aborted when the task times out or the backfill is interrupted. */
  signal: AbortSignal
  task_id: string
  try_number: number
  ts: string
  ts_nodash: string
}

/** A task's Python-callable counterpart: any function, sync or async, given the context. */
export type TaskCallable = (context: TaskContext) => unknown

/** Per-task settings that `default_args` can also provide. */
export interface TaskDefaults {
  depends_on_past?: boolean
  execution_timeout?: DurationInput
  retries?: number
  retry_delay?: DurationInput
}

/** One task as written in a DAG file: exactly one of `bash_command` or `callable`. */
export interface TaskDefinition extends TaskDefaults {
  bash_command?: string
  callable?: TaskCallable
  doc?: string
  env?: Record<string, string>
  task_id: string
  upstream?: string[]
}

/** A DAG as written in a DAG file (the default export). */
export interface DagDefinition {
  dag_id?: string
  default_args?: TaskDefaults
  description?: string
  end_date?: Date | string
  max_active_runs?: number
  params?: Record<string, unknown>
  schedule?: DurationInput | null | string
  schedule_interval?: DurationInput | null | string
  start_date: Date | string
  tags?: string[]
  tasks: TaskDefinition[]
  timezone?: string
}

/** A validated task with defaults applied. */
export interface Task {
  bashCommand: null | string
  callable: null | TaskCallable
  dependsOnPast: boolean
  env: Record<string, string>
  executionTimeoutMs: null | number
  retries: number
  retryDelayMs: number
  taskId: string
  upstream: string[]
}

/** A validated DAG; instants are UTC ISO strings and `tasks` are in topological order (ties by id). */
export interface Dag {
  dagId: string
  description: null | string
  endDate: null | string
  /** Absolute path of the file the DAG came from. */
  fileloc: string
  maxActiveRuns: number
  params: Record<string, unknown>
  schedule: Schedule
  startDate: string
  tasks: Task[]
  timezone: string
  /** Problems that do not stop the DAG from loading, e.g. a value from outside reaching the shell unquoted. */
  warnings: string[]
}

export const DEFAULT_MAX_ACTIVE_RUNS = 16
