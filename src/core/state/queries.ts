import {closeMatch} from '../suggest.js'

import {UpdraftError} from '../errors.js'
import {type CoveredDate, RUN_TYPES, runIdOf} from '../run/run-spec.js'
import {parseDateTime, toInstant, toUtcIso} from '../schedule/logical-date.js'
import type {AttemptRecord, DagRunRecord, DagState, TaskInstanceRecord} from './schema.js'

/**
 * The runs as they stand, given which of them live backfills own: outside those, a run or task instance recorded
 * as in progress was cut short by a process that died (kill -9, power loss), so it reads as what the next
 * backfill will find: the run `queued`, the task instance `none` with reason `interrupted`.
 */
export function withoutDeadBackfill(state: DagState, ownedByLiveBackfills: ReadonlySet<string>): DagState {
  const runs: DagState['runs'] = {}
  for (const [runId, run] of Object.entries(state.runs)) {
    if (ownedByLiveBackfills.has(runId)) {
      runs[runId] = run
      continue
    }

    const taskInstances: DagRunRecord['task_instances'] = {}
    for (const [taskId, ti] of Object.entries(run.task_instances)) {
      taskInstances[taskId] = IN_PROGRESS.has(ti.state) ? {...ti, pid: null, reason: 'interrupted', state: 'none'} : ti
    }

    runs[runId] = {...run, state: run.state === 'running' ? 'queued' : run.state, task_instances: taskInstances}
  }

  return {runs}
}

const IN_PROGRESS = new Set(['queued', 'running', 'scheduled', 'up_for_retry'])

/** A run as listed by `dags list-runs`. */
export interface RunRow {
  /** The batch that ran this date together with others, if one did. */
  batch_run_id: null | string
  duration_ms: null | number
  end_date: null | string
  logical_date: null | string
  partition_key: null | string
  run_id: string
  start_date: null | string
  state: string
}

/** Runs of a DAG oldest first, then in key order (`keyOrder`, the DAG's partitions), optionally only those in one state. */
export function listRuns(state: DagState, onlyState: null | string, keyOrder: readonly string[] = []): RunRow[] {
  const rank = (key: null | string) => (key === null ? -1 : keyOrder.includes(key) ? keyOrder.indexOf(key) : keyOrder.length)
  return Object.values(state.runs)
    .filter((run) => onlyState === null || run.state === onlyState)
    .sort((a, b) => (a.logical_date ?? '').localeCompare(b.logical_date ?? '') || rank(a.partition_key) - rank(b.partition_key) || (a.partition_key ?? '').localeCompare(b.partition_key ?? ''))
    .map((run) => ({
      batch_run_id: Object.values(run.task_instances).find((ti) => ti.batch_run_id !== null)?.batch_run_id ?? null,
      duration_ms: run.start_date && run.end_date ? new Date(run.end_date).getTime() - new Date(run.start_date).getTime() : null,
      end_date: run.end_date,
      logical_date: run.logical_date,
      partition_key: run.partition_key,
      run_id: run.run_id,
      start_date: run.start_date,
      state: run.state,
    }))
}

/**
 * Finds a run by run id, by logical date (read in the DAG's zone unless it carries an offset) plus partition
 * key on a partitioned DAG, or by key alone on a key-only DAG.
 */
export function findRun(
  recorded: {partitions: readonly string[]; state: DagState; timezone: string},
  dagId: string,
  reference: {partitionKey: null | string; run: null | string},
): DagRunRecord {
  const {partitions, state, timezone} = recorded
  const direct = reference.run === null ? undefined : state.runs[reference.run]
  if (direct) return direct
  const looksLikeDate = reference.run !== null && /^\d{4}-\d{2}-\d{2}/.test(reference.run)
  if (looksLikeDate && reference.partitionKey === null && partitions.length > 0) {
    throw new UpdraftError('USAGE', `Expected --partition KEY (${partitions.join(', ')}) with a logical date of ${dagId}, which has partitions, got ${reference.run} alone.`, {
      exit: 2,
      suggestions: [`--partition ${partitions[0] ?? ''}`],
    })
  }

  const dates = looksLikeDate ? [instantIso(reference.run as string, timezone)] : []
  const byDate = looksLikeDate || reference.run === null
  const runId = byDate ? runIdOf(dates, reference.partitionKey) : (reference.run as string)
  // A date names its run whoever made it (a backfill or the scheduler); on a key-only DAG the key alone names it.
  const run = byDate ? RUN_TYPES.map((type) => state.runs[runIdOf(dates, reference.partitionKey, type)]).find((found) => found !== undefined) : state.runs[runIdOf([], reference.run as string)]
  if (run) return run
  const known = Object.keys(state.runs).sort()
  const asked = reference.run === null ? `--partition ${reference.partitionKey ?? ''}` : `"${reference.run}"${reference.partitionKey === null ? '' : ` --partition ${reference.partitionKey}`}`
  throw new UpdraftError(
    'RUN_NOT_FOUND',
    `Expected a run of ${dagId} (a logical date like 2024-01-03, with --partition K on a partitioned DAG, or a run id), got ${asked}${runId === reference.run ? '' : ` (run id ${runId})`}; ${known.length} run(s) recorded.`,
    {suggestions: [closeMatch(runId, known) ?? []].flat()},
  )
}

function instantIso(text: string, timezone: string): CoveredDate {
  const iso = toUtcIso(toInstant(parseDateTime(text, 'the logical date'), timezone))
  return {data_interval_end: iso, data_interval_start: iso, logical_date: iso}
}

/** A task instance of a run, or an error naming the run's tasks. */
export function findTaskInstance(run: DagRunRecord, taskId: string): TaskInstanceRecord {
  const ti = run.task_instances[taskId]
  if (ti) return ti
  const known = Object.keys(run.task_instances)
  throw new UpdraftError('TASK_NOT_FOUND', `Expected a task of run ${run.run_id} (${known.join(', ')}), got "${taskId}".`, {
    suggestions: [closeMatch(taskId, known) ?? []].flat(),
  })
}

/** The log file of one try (default: the latest try that has a log). */
/** The try whose log is at `logPath`: a past one from the history, or the latest. */
export function tryWithLog(ti: TaskInstanceRecord, logPath: string): Pick<AttemptRecord, 'end_date' | 'exit_code' | 'start_date' | 'state' | 'try_number'> {
  return ti.history.find((attempt) => attempt.log_path === logPath) ?? ti
}

export function logPathOf(ti: TaskInstanceRecord, taskId: string, tryNumber: null | number): string {
  const attempts = [...ti.history.map((attempt) => ({log: attempt.log_path, try: attempt.try_number})), {log: ti.log_path, try: ti.try_number}]
  const withLogs = attempts.filter((attempt) => attempt.log !== null)
  const chosen = tryNumber === null ? withLogs.at(-1) : withLogs.find((attempt) => attempt.try === tryNumber)
  if (!chosen?.log) {
    const tries = [...new Set(withLogs.map((attempt) => attempt.try))].join(', ') || 'none'
    throw new UpdraftError('TASK_NOT_FOUND', `Expected a try of ${taskId} with a log (tries: ${tries}), got ${tryNumber === null ? 'no try that ran' : `--try ${tryNumber}`}.`, {exit: tryNumber === null ? 1 : 2})
  }

  return chosen.log
}
