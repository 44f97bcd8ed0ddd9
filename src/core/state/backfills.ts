import {UpdraftError} from '../errors.js'
import {coveredByRunId} from '../run/run-spec.js'
import type {BackfillRecord, BackfillState, DagRunState, DagState, TaskInstanceState} from './schema.js'

/** A run of a backfill as `backfills show --json` lists it (README "Backfills as records"): one record per date (and key). */
export interface BackfillRunRow {
  logical_date: null | string
  partition_key: null | string
  run_id: string
  state: DagRunState | 'none'
  task_instances: Record<string, TaskInstanceState>
}

/**
 * A record as it reads now: `running` only while its process holds the DAG's lock; once that process is gone
 * it is `interrupted` (kill -9, power loss). Counts of a running backfill are taken from its runs as they stand.
 */
export function currentRecord(record: BackfillRecord, state: DagState, liveHolderPid: null | number): BackfillRecord {
  if (!isInProcess(record)) return record
  const current: BackfillState = liveHolderPid === record.pid ? record.state : 'interrupted'
  return {...record, counts: countsOf(record.run_ids, state), state: current}
}

/**
 * Whether a record says a process runs it now: `running`, or `paused` once launched. A paused request that no
 * process has taken yet (no history) is owned by nobody.
 */
export function isInProcess(record: Pick<BackfillRecord, 'history' | 'state'>): boolean {
  return record.state === 'running' || (record.state === 'paused' && record.history.length > 0)
}

/** Task instance states over a backfill's runs as they stand in `state`, optionally of some tasks only. */
export function countsOf(runIds: readonly string[], state: DagState, tasks?: readonly string[]): Partial<Record<TaskInstanceState, number>> {
  const counts: Partial<Record<TaskInstanceState, number>> = {}
  const counted = tasks && new Set(tasks)
  for (const runId of runIds) {
    const run = state.runs[runId]
    if (!run) continue
    for (const [taskId, ti] of Object.entries(run.task_instances)) {
      if (counted && !counted.has(taskId)) continue
      counts[ti.state] = (counts[ti.state] ?? 0) + 1
    }
  }

  return counts
}

/**
 * What a record counts (README "Backfills as records"): the task instances of its runs as they stood at its end,
 * kept in the record, so that a later backfill of the same dates does not change them. Until it ends, and for
 * a process killed before it could end it, its runs as they stand now.
 */
export function recordCounts(record: Pick<BackfillRecord, 'counts' | 'finished_at'>, runIds: readonly string[], state: DagState): Partial<Record<TaskInstanceState, number>> {
  return record.finished_at === null ? countsOf(runIds, state) : record.counts
}

/**
 * How long a record's goes ran, added up: a request's wait in the queue and the time between a stop and a
 * resume do not count. A go still running counts up to `now`; one whose process died without ending it counts
 * nothing, as nobody knows when it stopped.
 */
export function ranForMs(record: Pick<BackfillRecord, 'history'>, now: Date, running: boolean): null | number {
  if (record.history.length === 0) return null
  return record.history.reduce((sum, attempt, index) => {
    const end = attempt.finished_at ?? (running && index === record.history.length - 1 ? now.toISOString() : attempt.started_at)
    return sum + Math.max(0, new Date(end).getTime() - new Date(attempt.started_at).getTime())
  }, 0)
}

/** How many of a backfill's runs have finished, of how many. */
export function progressOf(record: BackfillRecord, state: DagState): {done: number; total: number} {
  const done = record.run_ids.filter((runId) => {
    const run = state.runs[runId]
    return run?.state === 'success' || run?.state === 'failed'
  }).length
  return {done, total: record.run_ids.length}
}

/** The record with this id, or an error naming the ids there are. */
export function findBackfill<T extends Pick<BackfillRecord, 'id'>>(records: readonly T[], reference: string): T {
  const id = Number(reference)
  const found = Number.isInteger(id) ? records.find((record) => record.id === id) : undefined
  if (found) return found
  const ids = records.map((record) => record.id).sort((a, b) => a - b)
  throw new UpdraftError(
    'BACKFILL_NOT_FOUND',
    `Expected the id of a recorded backfill (${ids.length > 0 ? `1 to ${ids.at(-1)}` : 'none recorded yet'}), got "${reference}".`,
    {exit: Number.isInteger(id) ? 1 : 2, suggestions: ids.length > 0 ? ['updraft backfills list'] : []},
  )
}

/** A backfill's runs in the order it covers them, each with its recorded state (`none` if it never started). */
export function backfillRuns(record: BackfillRecord, state: DagState): BackfillRunRow[] {
  return record.run_ids.map((runId) => {
    const run = state.runs[runId]
    const covered = run ?? coveredByRunId(runId)
    return {
      logical_date: covered.logical_date,
      partition_key: covered.partition_key,
      run_id: runId,
      state: run?.state ?? 'none',
      task_instances: Object.fromEntries(Object.entries(run?.task_instances ?? {}).map(([taskId, ti]) => [taskId, ti.state])),
    }
  })
}

/** What a request selected, in a few words: its dates or date list, its keys and its task regex. */
export function selectionText(request: BackfillRecord['request']): string {
  const {dates, keys} = request
  const dateText = dates === null ? '' : dates.kind === 'range' ? `${dates.start.text} → ${dates.end?.text ?? dates.start.text}` : dates.dates.map((date) => date.text).join(',')
  const keyText = keys.kind === 'list' ? keys.keys.join(',') : keys.from === null && keys.to === null ? '' : `${keys.from ?? '…'} → ${keys.to ?? '…'}`
  const taskText = request.task_regex === null ? '' : `-t ${request.task_regex.source}`
  return [dateText, keyText && `keys ${keyText}`, taskText].filter(Boolean).join(' · ')
}

/**
 * A request as a person would have typed it: the `dags backfill` command that asks for the same thing, e.g.
 * `updraft dags backfill sales -s 2024-01-01 -e 2024-01-31 -t '^load$' --rerun-failed-tasks`.
 */
export function requestCommand(dagId: string, request: BackfillRecord['request']): string {
  const words = ['updraft', 'dags', 'backfill', dagId]
  const {dates, keys} = request
  if (dates?.kind === 'range') words.push('-s', dates.start.text, '-e', dates.end?.text ?? dates.start.text)
  else if (dates?.kind === 'list') words.push(dates.flag === '--date' ? '-D' : '-l', dates.dates.map((date) => date.text).join(','))
  if (keys.kind === 'list') words.push('--partitions', keys.keys.join(','))
  else {
    if (keys.from !== null) words.push('--from', keys.from)
    if (keys.to !== null) words.push('--to', keys.to)
  }

  if (request.task_regex !== null) words.push('-t', request.task_regex.source)
  for (const [name, value] of Object.entries(request)) if (value === true) words.push(`--${name.replaceAll('_', '-')}`)
  words.push('--max-active-runs', String(request.max_active_runs), '--batch-size', request.batch_size === null ? 'all' : String(request.batch_size))
  if (Object.keys(request.conf).length > 0) words.push('-c', JSON.stringify(request.conf))
  return words.map((word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`)).join(' ')
}

/** A record as `backfills list --json` prints it (README "Backfills as records"): exactly these keys, in this order. */
export function recordDocument(record: BackfillRecord) {
  return {
    id: record.id,
    dag_id: record.dag_id,
    state: record.state,
    created_at: record.created_at,
    finished_at: record.finished_at,
    request: record.request,
    run_ids: record.run_ids,
    counts: record.counts,
    pid: record.pid,
    host: record.host,
  }
}
