import type {Dag} from '../dag/model.js'
import {UpdraftError} from '../errors.js'
import {parseConf, parsePositiveInteger, parseRegex} from '../typed-input.js'
import {labelAsArgument, parseDateTime} from '../schedule/logical-date.js'
import {isInProcess} from '../state/backfills.js'
import type {BackfillRecord} from '../state/schema.js'
import type {StateStore} from '../state/store.js'
import {BackfillSession, isUnlaunchedRequest, type SessionContext} from './backfill-session.js'
import {backfillRequestOfOptions, type BackfillRunOptions} from './launch.js'

export type {SessionContext} from './backfill-session.js'

/**
 * What acting on backfills from outside their process takes (README "The web page", "Requests and the
 * scheduler"): planning and queueing a request from a form, and asking a backfill to pause, go on or stop. None
 * of it runs a task: the scheduler (or `--wait`) runs requests; a running backfill hears what it is asked.
 */

/** What asking a backfill to pause or stop reads of its record. */
type RecordAskedOf = Pick<BackfillRecord, 'dag_id' | 'history' | 'id' | 'state'>

/** What to run again of what already ran, in Airflow 3's words. */
export type ReprocessBehavior = 'completed' | 'failed' | 'none'

/** The web page's Launch backfill form, as typed. Empty text means not given. */
export interface LaunchForm {
  conf: string
  /** A list of logical dates, separated by commas or spaces: instead of From and To. */
  dates: string
  from: string
  max_active_runs: string
  /** Dagster's "missing and failed only": runs what never ran and what failed, as `failed` does. */
  missing_and_failed_only: boolean
  /** Keys, separated by commas or spaces. */
  partitions: string
  reprocess: string
  task_regex: string
  to: string
}

/** What a form would run: the planned session, and the settings its request is queued with. */
export interface PlannedLaunch {
  conf: Record<string, unknown>
  maxActiveRuns: number
  session: BackfillSession
}

/** Plans what the form asks for against the store as it is now; nothing is written. Bad input is refused as `dags backfill` refuses it. */
export async function planLaunch(dag: Dag, form: LaunchForm, context: SessionContext): Promise<PlannedLaunch> {
  const reprocess = reprocessOf(form)
  const options: BackfillRunOptions = {rerunFailedTasks: reprocess === 'failed', resetDagRuns: reprocess === 'completed'}
  const from = form.from.trim()
  const to = form.to.trim()
  if (from !== '' || to !== '') {
    if (from === '') throw new UpdraftError('MISSING_DATES', `Expected From with To, got only To ${to}.`, {exit: 2})
    // Dates read as -s reads them, or as the page labels them (`2024-03-05 06:30 +01:00`); errors name the fields.
    options.start = parseDateTime(labelAsArgument(from), 'From').text
    options.end = to === '' ? options.start : parseDateTime(labelAsArgument(to), 'To').text
  }

  const dates = form.dates.split(/[\s,]+/).filter((date) => date !== '')
  if (dates.length > 0) {
    if (options.start !== undefined) throw new UpdraftError('MIXED_SELECTION_FLAGS', `Expected dates either as From/To or as Dates, got both (${from} → ${to || from} and ${dates.join(', ')}).`, {exit: 2})
    options.dates = dates.map((date) => parseDateTime(date, 'Dates').text)
  }

  const keys = form.partitions.split(/[\s,]+/).filter((key) => key !== '')
  if (keys.length > 0) options.partitions = keys
  if (form.task_regex.trim() !== '') options.taskRegex = parseRegex(form.task_regex.trim(), 'Task regex')
  const maxActiveRuns = form.max_active_runs.trim() === '' ? dag.maxActiveRuns : parsePositiveInteger(form.max_active_runs, 'Max active runs')
  const conf = form.conf.trim() === '' ? {} : parseConf(form.conf, 'Conf')
  const request = backfillRequestOfOptions(dag, options, [])
  // Errors about the dates name the form's fields.
  const named =
    request.dates?.kind === 'range'
      ? {...request, dates: {...request.dates, flags: {end: 'To', start: 'From'}}}
      : request.dates?.kind === 'list'
        ? {...request, dates: {...request.dates, flag: 'Dates' as const}}
        : request
  const session = await BackfillSession.plan(dag, named, context)
  return {conf, maxActiveRuns, session}
}

/** How many runs and task instances a plan would run: what the form's preview reads. */
export function previewOf(session: BackfillSession): {runs: number; task_instances: number} {
  const running = session.plan.runs.filter((run) => run.tasks.length > 0)
  return {runs: running.length, task_instances: running.reduce((sum, run) => sum + run.tasks.length * run.records.length, 0)}
}

/** Queues what the form asks for as a request, refusing one that would run nothing. */
export async function queueLaunch(launch: PlannedLaunch): Promise<BackfillRecord> {
  if (previewOf(launch.session).task_instances === 0) {
    throw new UpdraftError('NOTHING_TO_RUN', `Expected a selection with something to run, got ${launch.session.plan.requested}, whose task instances are all done already.`, {exit: 2})
  }

  return launch.session.queue({conf: launch.conf, disableRetry: false, markSuccess: false, maxActiveRuns: launch.maxActiveRuns})
}

/**
 * Asks backfill `record` to pause or to go on. A request nobody took changes at once and is returned; a
 * running backfill is asked through the store (null: it changes when it next looks).
 */
export async function askToPause(store: StateStore, record: RecordAskedOf, paused: boolean): Promise<BackfillRecord | null> {
  if (isUnlaunchedRequest(record)) {
    const changed = await store.updateBackfill(record.id, (current) => (isUnlaunchedRequest(current) ? {...current, state: paused ? 'paused' : 'queued'} : null))
    if (changed) return changed
  }

  if (!isInProcess(record)) throw notRunning(record, paused ? 'pause' : 'unpause')
  await store.requestPause(record.id, paused)
  return null
}

/**
 * Asks backfill `record` to stop, saying who asked. A request nobody took is cancelled in place and returned;
 * a running or paused backfill is asked through the store (null: it stops when it next looks).
 */
export async function askToCancel(store: StateStore, record: RecordAskedOf, by: string, now: Date): Promise<BackfillRecord | null> {
  if (isUnlaunchedRequest(record)) {
    const cancelled = await store.updateBackfill(record.id, (current) => (isUnlaunchedRequest(current) ? {...current, finished_at: now.toISOString(), state: 'cancelled'} : null))
    if (cancelled) return cancelled
  }

  if (!isInProcess(record)) throw notRunning(record, 'cancel')
  await store.requestCancel(record.id, by)
  return null
}

function notRunning(record: RecordAskedOf, verb: string): UpdraftError {
  return new UpdraftError('BACKFILL_NOT_RUNNING', `Expected a queued, running or paused backfill to ${verb}, got backfill ${record.id} of ${record.dag_id} ${record.state}.`, {
    suggestions: record.state === 'interrupted' ? [`updraft backfills resume ${record.id}`] : [],
  })
}

function reprocessOf(form: LaunchForm): ReprocessBehavior {
  if (form.missing_and_failed_only) return 'failed'
  const behavior = form.reprocess.trim() === '' ? 'none' : form.reprocess.trim()
  if (behavior !== 'none' && behavior !== 'failed' && behavior !== 'completed') {
    throw new UpdraftError('USAGE', `Expected Reprocess behaviour to be none, failed or completed, got "${form.reprocess}".`, {exit: 2})
  }

  return behavior
}
