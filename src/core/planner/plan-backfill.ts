import {withDownstream} from '../dag/graph.js'
import type {Dag} from '../dag/model.js'
import {selectTasks} from '../dag/select.js'
import {UpdraftError} from '../errors.js'
import {type CoveredDate, coverageOf, runIdOf, type RunType, type RunWindow, runWindow} from '../run/run-spec.js'
import {type KeySelection, resolvePartitionKeys} from '../run/selection.js'
import {toUtcIso} from '../schedule/logical-date.js'
import {type DateSelection, type ExcludedCounts, resolveLogicalDates} from '../schedule/resolve-dates.js'
import {type DagState, DONE_STATES, FAILED_STATES, type TaskInstanceState} from '../state/schema.js'
import type {RunRange} from '../state/store.js'

/** What the user asked a backfill to do, already parsed and validated. */
export interface BackfillRequest {
  /** Most dates per run (`--batch-size`, else the DAG's backfill_policy); null runs every stretch as one. */
  batchSize: null | number
  /** Null for a key-only DAG. */
  dates: DateSelection | null
  ignoreDependencies: boolean
  keys: KeySelection
  rerunFailedTasks: boolean
  resetDagRuns: boolean
  /** Records a resumed backfill's `--reset-dagruns` already cleared and ran: they are not cleared again. */
  resetDone?: ReadonlySet<string>
  runBackwards: boolean
  /** The type new run records get in their ids; `backfill` unless the scheduler plans its due runs. */
  runType?: RunType
  /** Labels kept with the backfill's record, e.g. `{sensor: 'new_files'}` for a sensor's launch (README "Launching from code"). */
  tags?: Record<string, string>
  taskRegex: null | RegExp
}

/** The task-instance states already recorded for one run record of the DAG, keyed by task id. */
export interface ExistingRun {
  run_id: string
  task_instances: Record<string, TaskInstanceState>
}

/**
 * The logical dates `request` covers, as UTC instants, so that planning reads only the runs it can touch. Null
 * for a key-only DAG, and for a request the planner will refuse (it then says why, in its own order of checks).
 */
export function requestRange(dag: Dag, request: Pick<BackfillRequest, 'dates'>, now: Date): null | RunRange {
  if (request.dates === null) return null
  let intervals
  try {
    intervals = resolveLogicalDates(dag, request.dates, now).intervals
  } catch {
    return null
  }

  const starts = intervals.map((interval) => toUtcIso(interval.start)).sort()
  return {from: starts[0] ?? toUtcIso(now), to: starts.at(-1) ?? toUtcIso(now)}
}

/** The recorded runs of a DAG, reduced to what planning needs. */
export function existingRunsOf(state: DagState): ExistingRun[] {
  return Object.values(state.runs).map((run) => ({
    run_id: run.run_id,
    task_instances: Object.fromEntries(Object.entries(run.task_instances).map(([taskId, ti]) => [taskId, ti.state])),
  }))
}

/** Why a selected task instance will not run. */
export type SkipReason = 'already-failed' | 'already-skipped' | 'already-succeeded'

/**
 * What the backfill does to one selected task instance, decided here once: the apply loop carries it out.
 * `clear` and `recover` also run the instance, after its recorded try moves into its history.
 */
export type TaskAction =
  | {action: 'clear'; reason: 'rerun-failed-tasks' | 'reset-dagruns'; state: TaskInstanceState; task_id: string}
  | {action: 'recover'; /** Left in progress by a process that is gone. */ state: TaskInstanceState; task_id: string}
  | {action: 'run'; task_id: string}
  | {action: 'skip'; reason: SkipReason; task_id: string}

/** One DAG run record a planned run writes: a date it covers (or, key-only, the run itself). */
export interface PlannedRecord {
  /** One per selected task, in topological order. */
  actions: TaskAction[]
  data_interval_end: null | string
  data_interval_start: null | string
  /** True when the record already exists in the state store. */
  existing: boolean
  logical_date: null | string
  run_id: string
}

/** One run of the plan: one execution of the task graph over its dates and key. */
export interface PlannedRun extends RunWindow {
  /** The records it writes, oldest date first; every date of a batch keeps its own. */
  records: PlannedRecord[]
  /** Task ids that will run, in topological order (ties by id); the same for every record of the run. */
  tasks: string[]
}

/** Everything a backfill will do, as plain data; nothing is written while it is made. */
export interface BackfillPlan {
  dag_id: string
  excluded: ExcludedCounts
  /** Human description of the requested dates and keys, for messages. */
  requested: string
  runs: PlannedRun[]
  /** The selected task ids, in topological order. */
  selected_tasks: string[]
}

/** Task ids whose action runs them (run, clear, recover). */
export function runsTask(action: TaskAction): boolean {
  return action.action !== 'skip'
}

/**
 * Plans a backfill (README "Choosing dates and tasks", "Existing state", "Partitions", "Backfill policies"): which dates and keys, which tasks, what is skipped,
 * cleared or recovered and why, and which consecutive dates share a run.
 */
export function planBackfill(dag: Dag, request: BackfillRequest, now: Date, existingRuns: readonly ExistingRun[]): BackfillPlan {
  const {taskIds} = selectTasks(dag, request.taskRegex, request.ignoreDependencies)
  if (request.runBackwards && request.dates !== null) {
    const dependent = dag.tasks.filter((task) => task.dependsOnPast && taskIds.includes(task.taskId)).map((task) => task.taskId)
    if (dependent.length > 0) {
      throw new UpdraftError(
        'RUN_BACKWARDS_WITH_DEPENDS_ON_PAST',
        `Expected no depends_on_past task with --run-backwards, got ${dependent.join(', ')} in DAG ${dag.dagId}.`,
        {exit: 2},
      )
    }
  }

  const keys = resolvePartitionKeys(dag, request.keys)
  const resolved = request.dates === null ? null : resolveLogicalDates(dag, request.dates, now)
  const dates: Array<CoveredDate | null> = resolved === null
    ? [null]
    : resolved.intervals.map(({end, start}) => {
        const startIso = toUtcIso(start)
        return {data_interval_end: toUtcIso(end), data_interval_start: startIso, logical_date: startIso}
      })
  const existingByCoverage = new Map(existingRuns.map((run) => [coverageOf(run.run_id), run]))
  const graph = dag.tasks.map((task) => ({id: task.taskId, upstream: task.upstream}))
  // Records with nothing recorded yet share one list of actions: a year of new hourly dates would otherwise hold
  // 87,600 action objects for the whole backfill.
  let freshActions: TaskAction[] | undefined
  let freshSignature: string | undefined
  const recordFor = (date: CoveredDate | null, key: null | string): PlannedRecord => {
    const fresh = runIdOf(date ? [date] : [], key, request.runType)
    const existing = existingByCoverage.get(coverageOf(fresh))
    const runId = existing?.run_id ?? fresh
    const resetHere = request.resetDagRuns && !request.resetDone?.has(runId)
    return {
      actions: existing ? taskActions(taskIds, existing.task_instances, {...request, resetDagRuns: resetHere}, graph) : (freshActions ??= taskActions(taskIds, {}, request, graph)),
      data_interval_end: date?.data_interval_end ?? null,
      data_interval_start: date?.data_interval_start ?? null,
      existing: existing !== undefined,
      logical_date: date?.logical_date ?? null,
      run_id: runId,
    }
  }

  const batchSize = resolved === null ? 1 : (request.batchSize ?? Number.POSITIVE_INFINITY)
  // Runs are ordered by their first date, then by key order; a key-only DAG has one "date", none.
  const byDate: PlannedRun[][] = dates.map(() => [])
  for (const key of keys) {
    let batch: Array<{date: CoveredDate | null; record: PlannedRecord; signature: string}> = []
    let batchStart = 0
    const closeBatch = () => {
      if (batch.length > 0) byDate[batchStart]?.push(plannedRun(batch.map((item) => item.date).filter((date) => date !== null), key, batch.map((item) => item.record), request.runType))
      batch = []
    }

    for (const [index, date] of dates.entries()) {
      const record = recordFor(date, key)
      const runsSomething = record.actions.some((action) => runsTask(action))
      const previous = batch.at(-1)
      // One date per run (the default) needs no comparison of neighbours.
      const signature = batchSize === 1 ? '' : record.actions === freshActions ? (freshSignature ??= actionSignature(record.actions)) : actionSignature(record.actions)
      const extendsBatch =
        previous !== undefined &&
        batch.length < batchSize &&
        previous.signature === signature &&
        runsSomething &&
        previous.date?.data_interval_end === date?.logical_date
      if (!extendsBatch) {
        closeBatch()
        batchStart = index
      }

      batch.push({date, record, signature})
      // A date with nothing to run is listed on its own and never joins a batch.
      if (!runsSomething) closeBatch()
    }

    closeBatch()
  }

  if (request.runBackwards) byDate.reverse()
  return {
    dag_id: dag.dagId,
    excluded: resolved?.excluded ?? {before_start_date: 0, after_end_date: 0, not_yet_due: 0},
    requested: [resolved?.requested, dag.partitions.length > 0 ? `keys ${keys.join(', ')}` : undefined].filter(Boolean).join('; '),
    runs: byDate.flat(),
    selected_tasks: taskIds,
  }
}

function plannedRun(dates: CoveredDate[], key: null | string, records: PlannedRecord[], runType: RunType | undefined): PlannedRun {
  const spec = {dates, partition_key: key, run_id: dates.length === 1 ? (records[0] as PlannedRecord).run_id : runIdOf(dates, key, runType)}
  return {...runWindow(spec), records, tasks: tasksToRun((records[0] as PlannedRecord).actions)}
}

/** The task ids an action list runs, computed once per list: records with nothing recorded share theirs. */
const tasksOfActions = new WeakMap<readonly TaskAction[], string[]>()
function tasksToRun(actions: readonly TaskAction[]): string[] {
  let tasks = tasksOfActions.get(actions)
  if (!tasks) tasksOfActions.set(actions, (tasks = actions.filter((action) => runsTask(action)).map((action) => action.task_id)))
  return tasks
}

/** The actions (README "Existing state") for one record's selected task instances, given their recorded states. */
function taskActions(
  taskIds: readonly string[],
  recorded: Record<string, TaskInstanceState>,
  request: Pick<BackfillRequest, 'rerunFailedTasks' | 'resetDagRuns'>,
  graph: Array<{id: string; upstream: string[]}>,
): TaskAction[] {
  const failedHere = request.rerunFailedTasks ? taskIds.filter((id) => FAILED_STATES.has(recorded[id] ?? 'none')) : []
  const rerunnable = failedHere.length > 0 ? withDownstream(graph, failedHere) : new Set<string>()
  return taskIds.map((taskId): TaskAction => {
    const state = recorded[taskId] ?? 'none'
    if (request.resetDagRuns) return state === 'none' ? {action: 'run', task_id: taskId} : {action: 'clear', reason: 'reset-dagruns', state, task_id: taskId}
    if (DONE_STATES.has(state)) return {action: 'skip', reason: state === 'success' ? 'already-succeeded' : 'already-skipped', task_id: taskId}
    if (FAILED_STATES.has(state)) {
      return rerunnable.has(taskId) ? {action: 'clear', reason: 'rerun-failed-tasks', state, task_id: taskId} : {action: 'skip', reason: 'already-failed', task_id: taskId}
    }

    return state === 'none' ? {action: 'run', task_id: taskId} : {action: 'recover', state, task_id: taskId}
  })
}

/**
 * Dates batch together only when the same task instances run and the same are skipped for the same reason:
 * one execution of the graph has to mean the same thing for each of them.
 */
function actionSignature(actions: readonly TaskAction[]): string {
  return actions.map((action) => (action.action === 'skip' ? `${action.task_id}:${action.reason}` : action.task_id)).join(',')
}

/** One run in the `--json` documents, with the keys in the documented order. */
export function runDocument(run: RunWindow & {tasks: string[]}) {
  return {
    run_id: run.run_id,
    partition_key: run.partition_key,
    logical_date: run.logical_date,
    logical_dates: run.logical_dates,
    data_interval_start: run.data_interval_start,
    data_interval_end: run.data_interval_end,
    tasks: run.tasks,
  }
}

/** The `--dry-run --json` document (README "Output"): exactly these keys, nothing internal. */
export function dryRunDocument(plan: BackfillPlan) {
  return {dag_id: plan.dag_id, runs: plan.runs.map((run) => runDocument(run)), excluded: plan.excluded}
}
