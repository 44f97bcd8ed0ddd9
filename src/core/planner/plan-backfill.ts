import {withDownstream} from '../dag/graph.js'
import type {Dag} from '../dag/model.js'
import {selectTasks} from '../dag/select.js'
import {UpdraftError} from '../errors.js'
import {backfillRunId, toUtcIso} from '../schedule/logical-date.js'
import {type DateSelection, type ExcludedCounts, resolveLogicalDates} from '../schedule/resolve-dates.js'
import {type DagState, DONE_STATES, FAILED_STATES, type TaskInstanceState} from '../state/schema.js'

/** What the user asked a backfill to do, already parsed and validated. */
export interface BackfillRequest {
  dates: DateSelection
  ignoreDependencies: boolean
  rerunFailedTasks: boolean
  resetDagRuns: boolean
  runBackwards: boolean
  taskRegex: null | RegExp
}

/** The task-instance states already recorded for one run of the DAG, keyed by task id. */
export interface ExistingRun {
  run_id: string
  task_instances: Record<string, TaskInstanceState>
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

/** One logical date of the plan. */
export interface PlannedRun {
  /** Task ids whose recorded state is cleared before running (`--reset-dagruns`, `--rerun-failed-tasks`). */
  cleared: string[]
  data_interval_end: string
  data_interval_start: string
  /** True when the run already exists in the state store. */
  existing: boolean
  /**
   * Task instances a process that is gone left in progress (queued, running, waiting for a retry): their cut-short
   * try goes into the history with reason `interrupted` and they run again.
   */
  recovered: Array<{state: TaskInstanceState; task_id: string}>
  logical_date: string
  run_id: string
  skipped: Array<{reason: SkipReason; task_id: string}>
  /** Task ids that will run, in topological order (ties by id). */
  tasks: string[]
}

/** Everything a backfill will do, as plain data; nothing is written while it is made. */
export interface BackfillPlan {
  dag_id: string
  excluded: ExcludedCounts
  /** Human description of the requested dates, for messages. */
  requested: string
  runs: PlannedRun[]
  /** The selected task ids, in topological order. */
  selected_tasks: string[]
}

/** Plans a backfill: which dates, which tasks, what is skipped or cleared and why (§3–§5 of the semantics). */
export function planBackfill(dag: Dag, request: BackfillRequest, now: Date, existingRuns: readonly ExistingRun[]): BackfillPlan {
  const {taskIds} = selectTasks(dag, request.taskRegex, request.ignoreDependencies)
  if (request.runBackwards) {
    const dependent = dag.tasks.filter((task) => task.dependsOnPast && taskIds.includes(task.taskId)).map((task) => task.taskId)
    if (dependent.length > 0) {
      throw new UpdraftError(
        'RUN_BACKWARDS_WITH_DEPENDS_ON_PAST',
        `Expected no depends_on_past task with --run-backwards, got ${dependent.join(', ')} in DAG ${dag.dagId}.`,
        {exit: 2},
      )
    }
  }

  const resolved = resolveLogicalDates(dag, request.dates, now)
  const existingById = new Map(existingRuns.map((run) => [run.run_id, run]))
  const graph = dag.tasks.map((task) => ({id: task.taskId, upstream: task.upstream}))
  const runs = resolved.intervals.map(({end, start}): PlannedRun => {
    const runId = backfillRunId(start)
    const existing = existingById.get(runId)
    const recorded = existing?.task_instances ?? {}
    const failedHere = taskIds.filter((id) => FAILED_STATES.has(recorded[id] ?? 'none'))
    const rerunnable = request.rerunFailedTasks ? withDownstream(graph, failedHere) : new Set<string>()
    const tasks: string[] = []
    const skipped: PlannedRun['skipped'] = []
    const cleared: string[] = []
    const recovered: PlannedRun['recovered'] = []
    for (const id of taskIds) {
      const state = recorded[id] ?? 'none'
      if (request.resetDagRuns) {
        if (state !== 'none') cleared.push(id)
        tasks.push(id)
      } else if (DONE_STATES.has(state)) {
        skipped.push({reason: state === 'success' ? 'already-succeeded' : 'already-skipped', task_id: id})
      } else if (FAILED_STATES.has(state) && !rerunnable.has(id)) {
        skipped.push({reason: 'already-failed', task_id: id})
      } else {
        if (FAILED_STATES.has(state)) cleared.push(id)
        else if (state !== 'none') recovered.push({state, task_id: id})
        tasks.push(id)
      }
    }

    return {
      cleared,
      data_interval_end: toUtcIso(end),
      data_interval_start: toUtcIso(start),
      existing: existing !== undefined,
      logical_date: toUtcIso(start),
      recovered,
      run_id: runId,
      skipped,
      tasks,
    }
  })

  return {
    dag_id: dag.dagId,
    excluded: resolved.excluded,
    requested: resolved.requested,
    runs: request.runBackwards ? runs.reverse() : runs,
    selected_tasks: taskIds,
  }
}

/** One run in the §7 documents, with the keys in the documented order. */
export function runDocument(run: Pick<PlannedRun, 'data_interval_end' | 'data_interval_start' | 'logical_date' | 'run_id' | 'tasks'>) {
  return {
    run_id: run.run_id,
    logical_date: run.logical_date,
    data_interval_start: run.data_interval_start,
    data_interval_end: run.data_interval_end,
    tasks: run.tasks,
  }
}

/** The `--dry-run --json` document of §7: exactly these keys, nothing internal. */
export function dryRunDocument(plan: BackfillPlan) {
  return {dag_id: plan.dag_id, runs: plan.runs.map((run) => runDocument(run)), excluded: plan.excluded}
}
