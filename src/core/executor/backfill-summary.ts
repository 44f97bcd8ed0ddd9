import {type BackfillPlan, type PlannedRun, runDocument, type TaskAction} from '../planner/plan-backfill.js'
import {recordLabel, runLabel, type RunWindow} from '../run/run-spec.js'
import {labelAsArgument} from '../schedule/logical-date.js'
import type {ExcludedCounts} from '../schedule/resolve-dates.js'
import {type AttemptReason, blankTaskInstance, type DagRunRecord, type DagRunState, DONE_STATES, FAILED_STATES, type TaskInstanceState} from '../state/schema.js'

/** One run's outcome, in the shape of the `--json` document (README "Output"). */
export interface RunOutcome extends RunWindow {
  state: DagRunState
  task_instances: Record<string, TaskInstanceState>
  tasks: string[]
}

/** A task instance that ended failed or upstream_failed, for the failure table. */
export interface FailureRow {
  /** The run as it reads: its dates in the DAG's zone, its key. */
  label: string
  log_path: null | string
  logical_date: null | string
  run_id: string
  reason: AttemptReason | null
  state: TaskInstanceState
  task_id: string
  try_number: number
}

/** A run that stays failed only because of task instances this backfill did not select. */
export interface FailedOutsideSelection {
  label: string
  logical_date: null | string
  /** The selection flags that name this run alone, e.g. `-D 2024-01-03 --partitions eu`. */
  selection_arguments: string
  run_id: string
  /** The unselected task instances that keep the run failed, with their states. */
  task_instances: Record<string, TaskInstanceState>
}

/** What a backfill did; the command maps it to an exit code and the `--json` document. */
export interface BackfillSummary {
  /** The backfill's record id (README "Backfills as records"); null when nothing ran, so no record was made. */
  backfill_id: null | number
  /** Who cancelled it (`backfills cancel`), or null. */
  cancelled_by: null | string
  /** Dates that had nothing left to run when the backfill started. */
  already_complete: number
  counts: {runs: Partial<Record<DagRunState, number>>; task_instances: Partial<Record<TaskInstanceState, number>>}
  dag_id: string
  excluded: ExcludedCounts
  /** Runs failed because of task instances outside the selection (`-t`), so a user knows what else to run. */
  failed_outside_selection: FailedOutsideSelection[]
  failures: FailureRow[]
  interrupted: boolean
  /** Selected task instances that had already failed and were left alone (no `--rerun-failed-tasks`). */
  not_rerun: number
  runs: RunOutcome[]
  wall_ms: number
}

/** A run's state over its records: failed if any date failed, success once every date succeeded, else as the first stands. */
export function combinedState(records: readonly DagRunRecord[]): DagRunState {
  if (records.some((record) => record.state === 'failed')) return 'failed'
  return records.every((record) => record.state === 'success') ? 'success' : (records[0] as DagRunRecord).state
}

/** What a backfill did, from the plan and the records its runs ended with. */
export function summarise(plan: BackfillPlan, runs: ReadonlyArray<{planned: PlannedRun; records: DagRunRecord[]}>, outcome: {interrupted: boolean; labelOf: (iso: string) => string; wallMs: number}): BackfillSummary {
  const counts: BackfillSummary['counts'] = {runs: {}, task_instances: {}}
  const failures: FailureRow[] = []
  const failedOutsideSelection: FailedOutsideSelection[] = []
  const selected = new Set(plan.selected_tasks)
  const outcomes = runs.map(({planned, records}): RunOutcome => {
    const leading = records[0] as DagRunRecord
    const taskInstances: Record<string, TaskInstanceState> = {}
    for (const taskId of plan.selected_tasks) {
      const ti = leading.task_instances[taskId] ?? blankTaskInstance()
      taskInstances[taskId] = ti.state
      counts.task_instances[ti.state] = (counts.task_instances[ti.state] ?? 0) + 1
      if (FAILED_STATES.has(ti.state)) {
        const label = runLabel(planned, outcome.labelOf)
        failures.push({label, log_path: ti.log_path, logical_date: planned.logical_date, reason: ti.reason, run_id: planned.run_id, state: ti.state, task_id: taskId, try_number: ti.try_number})
      }
    }

    const selectedDone = Object.values(taskInstances).every((state) => DONE_STATES.has(state))
    // Only a run whose selected instances all succeeded can be failed by the others.
    for (const record of selectedDone ? records : []) {
      const outside = Object.entries(record.task_instances).filter(([taskId, ti]) => !selected.has(taskId) && FAILED_STATES.has(ti.state))
      if (outside.length === 0) continue
      const dateLabel = record.logical_date === null ? null : outcome.labelOf(record.logical_date)
      failedOutsideSelection.push({
        label: recordLabel(record, outcome.labelOf),
        logical_date: record.logical_date,
        run_id: record.run_id,
        selection_arguments: [dateLabel !== null && `-D ${labelAsArgument(dateLabel)}`, planned.partition_key !== null && `--partitions ${planned.partition_key}`].filter(Boolean).join(' '),
        task_instances: Object.fromEntries(outside.map(([taskId, ti]) => [taskId, ti.state])),
      })
    }

    const state = combinedState(records)
    counts.runs[state] = (counts.runs[state] ?? 0) + 1
    return {
      run_id: planned.run_id,
      partition_key: planned.partition_key,
      logical_date: planned.logical_date,
      logical_dates: planned.logical_dates,
      data_interval_start: planned.data_interval_start,
      data_interval_end: planned.data_interval_end,
      state,
      task_instances: taskInstances,
      tasks: planned.tasks,
    }
  })
  // Counted per distinct list of actions: records with nothing recorded before share one.
  const notRerunOf = new Map<readonly TaskAction[], number>()
  const notRerun = (actions: readonly TaskAction[]) => {
    let count = notRerunOf.get(actions)
    if (count === undefined) notRerunOf.set(actions, (count = actions.filter(isLeftFailed).length))
    return count
  }

  let notRerunTotal = 0
  let alreadyComplete = 0
  for (const run of plan.runs) {
    let failedLeftAlone = 0
    for (const record of run.records) failedLeftAlone += notRerun(record.actions)
    notRerunTotal += failedLeftAlone
    if (run.tasks.length === 0 && failedLeftAlone === 0) alreadyComplete++
  }

  return {
    already_complete: alreadyComplete,
    backfill_id: null,
    cancelled_by: null,
    counts,
    dag_id: plan.dag_id,
    excluded: plan.excluded,
    failed_outside_selection: failedOutsideSelection,
    failures,
    interrupted: outcome.interrupted,
    not_rerun: notRerunTotal,
    runs: outcomes,
    wall_ms: outcome.wallMs,
  }
}

/** True when every selected task instance of every date ended success or skipped: the only exit 0. */
export function allSucceeded(summary: BackfillSummary): boolean {
  return summary.runs.every((run) => Object.values(run.task_instances).every((state) => DONE_STATES.has(state)))
}

/** The `--json` document of a finished backfill: the dry-run shape plus `state` and `task_instances` per run. */
export function summaryDocument(summary: BackfillSummary) {
  return {
    backfill_id: summary.backfill_id,
    dag_id: summary.dag_id,
    runs: summary.runs.map((run) => ({...runDocument(run), state: run.state, task_instances: run.task_instances})),
    excluded: summary.excluded,
  }
}

/** A failed task instance the plan leaves as it is, for want of --rerun-failed-tasks. */
export function isLeftFailed(action: TaskAction): boolean {
  return action.action === 'skip' && action.reason === 'already-failed'
}
