import {isUpdraftError, UpdraftError} from '../core/errors.js'
import type {Dag} from '../core/dag/model.js'
import {loadDag, loadDagBag} from '../core/loader/load-dags.js'
import {recordLabel} from '../core/run/run-spec.js'
import {dateLabeler} from '../core/schedule/logical-date.js'
import {labelerFor} from '../core/schedule/resolve-dates.js'
import {dueTicks, nextScheduledRun} from '../core/scheduler/due-runs.js'
import {backfillRuns, progressOf, recordCounts, recordDocument, requestCommand, selectionText} from '../core/state/backfills.js'
import {findTaskInstance, logPathOf} from '../core/state/queries.js'
import {progressNow, readRecordedDag, readTryLog, type RecordedBackfills, type StateReaderContext} from '../core/state/readers.js'
import type {BackfillRecord, DagRunState, TaskInstanceState} from '../core/state/schema.js'
import {LEGEND_ORDER, STATE_LETTERS, STATE_SYMBOLS} from '../core/state/state-letters.js'

/** What changes while a backfill runs: sent to open pages whenever it differs from what they last got. */
export interface BackfillLive {
  counts: Partial<Record<TaskInstanceState, number>>
  finished_at: null | string
  finished_label: null | string
  progress: {done: number; total: number}
  /** One string per task (in `tasks` order), one state letter (`STATE_LETTERS`) per column. */
  rows: string[]
  state: BackfillRecord['state']
}

/** One column of the web grid: a run of the backfill, labelled in the DAG's time zone. */
export interface WebGridColumn {
  label: string
  partition_key: null | string
  run_id: string
}

/** Everything the backfill page shows. */
export interface BackfillView {
  columns: WebGridColumn[]
  /** The request as the `dags backfill` command that asks for it. */
  command: string
  created_label: string
  live: BackfillLive
  record: ReturnType<typeof recordDocument>
  selection: string
  /** Each state letter of `live.rows` with its name and symbol, in legend order. */
  states: Array<{letter: string; name: TaskInstanceState; symbol: string}>
  tasks: string[]
  timezone: string
}

/** A DAG as the front page lists it. */
export interface DagRow {
  dag_id: string
  is_paused: boolean
  last_run: null | {label: string; state: DagRunState}
  next_due: null | string
  partitions: string[]
  schedule: string
  timezone: string
}

/** A backfill as the front page lists it; creation times read in UTC, so that a list of many DAGs reads in order. */
export interface BackfillRow {
  created_label: string
  dag_id: string
  id: number
  progress: {done: number; total: number}
  selection: string
  state: BackfillRecord['state']
}

/** The hover and focus details of one box: what it is, how its latest try went, and its log's last lines. */
export interface TaskInstanceDetail {
  duration_ms: null | number
  label: string
  log_tail: null | string[]
  log_url: null | string
  partition_key: null | string
  run_id: string
  state: TaskInstanceState
  task_id: string
  try_number: number
}

const LOG_TAIL_LINES = 12

/** One letter per status cell: a run's state, or `.` where no run of that date (and key) is recorded. */
const RUN_LETTERS: Record<DagRunState, string> = {failed: 'F', queued: 'Q', running: 'R', success: 'S'}

/**
 * A DAG's status bar (README "The web page"): one cell per due logical date (× key), oldest first. States
 * travel as one letter per cell (date-major, then keys in declared order), so a year of
 * hourly dates × 3 keys is 8,760 labels and a string of 26,280 letters rather than 26,280 objects.
 */
export interface StatusBar {
  keys: string[]
  /** Each logical date as the CLI labels it, in the DAG's zone; none for a key-only DAG, whose one column covers every key. */
  labels: string[]
  states: string
}

/** Everything the DAG page shows. */
export interface DagView {
  dag: DagRow
  /** Backfills of this DAG that are queued, running or paused. */
  open_backfills: Array<{id: number; state: BackfillRecord['state']}>
  status: StatusBar
  tasks: string[]
  /** The DAG's load-time warnings, repeated next to the conf it would insert into a shell command. */
  warnings: string[]
}

/**
 * Builds the web page's models from one reading of the state file and the DAG files. The DAG files give the
 * time zone, the task order and the labels; a backfill whose DAG file is gone still shows, in UTC.
 */
export class WebViews {
  constructor(private readonly context: StateReaderContext) {}

  async dags(backfills: RecordedBackfills): Promise<{dags: DagRow[]; errors: Array<{file: string; message: string}>}> {
    const bag = await loadDagBag(this.context.dagsFolder)
    return {dags: bag.dags.map((dag) => this.dagRow(dag, backfills)), errors: bag.errors.map((error) => ({file: error.file, message: error.message}))}
  }

  /** `/dags/ID`: the DAG, its status bar and its open backfills. A DAG that does not load is `DAG_NOT_FOUND` or its load error. */
  async dag(backfills: RecordedBackfills, dagId: string): Promise<DagView> {
    const dag = await loadDag(this.context.dagsFolder, dagId)
    const now = this.context.clock()
    const ticks = dag.schedule.kind === 'none' ? [] : dueTicks(dag, now)
    const range = ticks.length === 0 ? null : {from: (ticks[0] as Date).toISOString(), to: (ticks.at(-1) as Date).toISOString()}
    const {state} = await readRecordedDag(this.context, dagId, range)
    const keys = dag.partitions
    const stateAt = new Map<string, string>()
    for (const run of Object.values(state.runs)) stateAt.set(`${run.logical_date ?? ''}|${run.partition_key ?? ''}`, RUN_LETTERS[run.state])
    const columns = dag.schedule.kind === 'none' ? [''] : ticks.map((tick) => tick.toISOString())
    const rowKeys = keys.length === 0 ? [''] : keys
    let states = ''
    for (const column of columns) for (const key of rowKeys) states += stateAt.get(`${column}|${key}`) ?? '.'
    return {
      dag: this.dagRow(dag, backfills),
      open_backfills: backfills.records.filter((record) => record.dag_id === dagId && ['paused', 'queued', 'running'].includes(record.state)).map((record) => ({id: record.id, state: record.state})),
      status: {keys, labels: columns.filter((column) => column !== '').map(labelerFor(dag)), states},
      tasks: dag.tasks.map((task) => task.taskId),
      warnings: dag.warnings,
    }
  }

  private dagRow(dag: Dag, backfills: RecordedBackfills): DagRow {
    const labelOf = labelerFor(dag)
    const summary = backfills.summaries[dag.dagId]
    const nextDue = nextScheduledRun(dag, summary?.last_scheduled ?? null, this.context.clock())
    const last = summary?.last_run ?? null
    return {
      dag_id: dag.dagId,
      last_run: last && {label: recordLabel(last, labelOf), state: last.state},
      is_paused: backfills.settings[dag.dagId]?.is_paused ?? dag.isPausedUponCreation,
      next_due: nextDue === null ? null : labelOf(nextDue),
      partitions: dag.partitions,
      schedule: dag.schedule.source,
      timezone: dag.timezone,
    }
  }

  /** The newest backfills, their creation times in one zone (UTC) whatever their DAGs' zones. */
  async recentBackfills(backfills: RecordedBackfills, count: number): Promise<BackfillRow[]> {
    const labelOf = dateLabeler('UTC', false)
    return Promise.all(
      backfills.records.slice(0, count).map(async (record) => ({
        created_label: labelOf(record.created_at),
        dag_id: record.dag_id,
        id: record.id,
        progress: await progressNow(record, backfills),
        selection: selectionText(record.request),
        state: record.state,
      })),
    )
  }

  async backfill(backfills: RecordedBackfills, id: string): Promise<BackfillView> {
    const record = await backfills.find(id)
    const dag = await this.dagOf(record.dag_id)
    const labelOf = dag ? labelerFor(dag) : dateLabeler('UTC', true)
    const runs = backfillRuns(record, await backfills.stateOf(record.dag_id))
    const tasks = dag?.tasks.map((task) => task.taskId) ?? [...new Set(runs.flatMap((run) => Object.keys(run.task_instances)))]
    const timezone = dag?.timezone ?? 'UTC'
    return {
      columns: runs.map((run) => ({label: recordLabel(run, labelOf), partition_key: run.partition_key, run_id: run.run_id})),
      command: requestCommand(record.dag_id, record.request),
      created_label: dateLabeler(timezone, false)(record.created_at),
      live: await this.live(backfills, record, tasks, timezone),
      record: recordDocument(record),
      selection: selectionText(record.request),
      states: LEGEND_ORDER.map((name) => ({letter: STATE_LETTERS[name], name, symbol: STATE_SYMBOLS[name].trim()})),
      tasks,
      timezone,
    }
  }

  /** The changing part of a backfill page; `tasks` fixes the row order the page was drawn with. */
  async live(backfills: RecordedBackfills, record: BackfillRecord, tasks: readonly string[], timezone: string): Promise<BackfillLive> {
    const state = await backfills.stateOf(record.dag_id)
    const runs = record.run_ids.map((runId) => state.runs[runId])
    return {
      counts: recordCounts(record, record.run_ids, state),
      finished_at: record.finished_at,
      finished_label: record.finished_at === null ? null : dateLabeler(timezone, false)(record.finished_at),
      progress: progressOf(record, state),
      rows: tasks.map((task) => runs.map((run) => STATE_LETTERS[run?.task_instances[task]?.state ?? 'none'] ?? STATE_LETTERS.none).join('')),
      state: record.state,
    }
  }

  async taskInstance(backfills: RecordedBackfills, id: string, runId: string, taskId: string): Promise<TaskInstanceDetail> {
    const {record, run, ti} = await this.findTaskInstance(backfills, id, runId, taskId)
    const dag = await this.dagOf(record.dag_id)
    const label = recordLabel(run, dag ? labelerFor(dag) : dateLabeler('UTC', true))
    const base = {duration_ms: ti?.duration_ms ?? null, label, partition_key: run.partition_key, run_id: runId, state: ti?.state ?? 'none', task_id: taskId, try_number: ti?.try_number ?? 0}
    const log = ti ? await this.readLog(ti, taskId, null) : null
    return {
      ...base,
      log_tail: log === null ? null : log.trimEnd().split('\n').slice(-LOG_TAIL_LINES),
      log_url: log === null ? null : logUrl(record.id, runId, taskId),
    }
  }

  /** The full log of a try (the latest when `tryNumber` is null). */
  async log(backfills: RecordedBackfills, id: string, runId: string, taskId: string, tryNumber: null | number): Promise<string> {
    const {ti} = await this.findTaskInstance(backfills, id, runId, taskId)
    const log = ti ? await this.readLog(ti, taskId, tryNumber) : null
    if (log === null) throw new UpdraftError('TASK_NOT_FOUND', `Expected a log of ${taskId} in run ${runId}, got none: the task has not run there yet.`)
    return log
  }

  private async findTaskInstance(backfills: RecordedBackfills, id: string, runId: string, taskId: string) {
    const record = await backfills.find(id)
    if (!record.run_ids.includes(runId)) throw new UpdraftError('RUN_NOT_FOUND', `Expected a run of backfill ${record.id}, got "${runId}".`)
    const run = (await backfills.stateOf(record.dag_id)).runs[runId]
    if (!run) return {record, run: {logical_date: null, partition_key: null, run_id: runId}, ti: null}
    return {record, run, ti: taskId in run.task_instances ? findTaskInstance(run, taskId) : null}
  }

  private async readLog(ti: Parameters<typeof logPathOf>[0], taskId: string, tryNumber: null | number): Promise<null | string> {
    let path: string
    try {
      path = logPathOf(ti, taskId, tryNumber)
    } catch (error) {
      if (isUpdraftError(error)) return null
      throw error
    }

    return readTryLog(this.context, path)
  }

  /** The DAG's definition, or null when its file is gone or broken: its records still show, in UTC. */
  private async dagOf(dagId: string): Promise<Dag | null> {
    try {
      return await loadDag(this.context.dagsFolder, dagId)
    } catch (error) {
      if (isUpdraftError(error)) return null
      throw error
    }
  }
}

/** Where the page links a box's full log. */
export function logUrl(backfillId: number, runId: string, taskId: string): string {
  return `/backfills/${backfillId}/logs?run=${encodeURIComponent(runId)}&task=${encodeURIComponent(taskId)}`
}
