import type {Dag, SensorRequest} from '../dag/model.js'
import {UpdraftError} from '../errors.js'
import {parseRegex} from '../typed-input.js'
import type {BackfillListener} from '../events.js'
import {type BackfillSummary, summaryDocument} from '../executor/backfill-summary.js'
import {type BackfillRequest, dryRunDocument} from '../planner/plan-backfill.js'
import {runSelectionFrom, type SelectionFlags} from '../run/selection.js'
import {parseDateTime} from '../schedule/logical-date.js'
import {BackfillSession, type RunSettings, type SessionContext} from './backfill-session.js'

/** The choices of a backfill that `dags backfill` takes as flags besides its selection. */
export interface BackfillChoices {
  /** Dates per run; null: every stretch in one run; undefined: the DAG's backfill_policy. */
  batchSize?: null | number | undefined
  ignoreDependencies?: boolean | undefined
  rerunFailedTasks?: boolean | undefined
  resetDagRuns?: boolean | undefined
  runBackwards?: boolean | undefined
  tags?: Record<string, string> | undefined
  taskRegex?: null | RegExp | undefined
}

/** The planner's request for a selection and choices, with the DAG's defaults where a choice is not made. */
export function backfillRequestOf(dag: Dag, selection: SelectionFlags, choices: BackfillChoices): BackfillRequest {
  return {
    ...runSelectionFrom(dag, selection),
    batchSize: choices.batchSize === undefined ? dag.batchSize : choices.batchSize,
    ignoreDependencies: choices.ignoreDependencies === true,
    rerunFailedTasks: choices.rerunFailedTasks === true,
    resetDagRuns: choices.resetDagRuns === true,
    runBackwards: choices.runBackwards === true,
    tags: choices.tags ?? {},
    taskRegex: choices.taskRegex ?? null,
  }
}

/** `backfill()`'s options (README "Launching from code") that say what to run: a sensor's request plus the flags of `dags backfill`. */
export interface BackfillRunOptions extends SensorRequest {
  batchSize?: 'all' | number | undefined
  conf?: Record<string, unknown> | undefined
  disableRetry?: boolean | undefined
  dryRun?: boolean | undefined
  ignoreDependencies?: boolean | undefined
  markSuccess?: boolean | undefined
  maxActiveRuns?: number | undefined
  parallelism?: number | undefined
  rerunFailedTasks?: boolean | undefined
  resetDagRuns?: boolean | undefined
  runBackwards?: boolean | undefined
}

/** The `--json` document of `dags backfill`: a plan for a dry run (or when nothing is due), else the outcome. */
export type BackfillDocument = ReturnType<typeof dryRunDocument> | ReturnType<typeof summaryDocument>

const RUN_OPTION_TYPES: Record<keyof BackfillRunOptions, string> = {
  batchSize: 'an integer of at least 1 or "all"',
  conf: 'an object',
  dates: 'an array of dates',
  disableRetry: 'a boolean',
  dryRun: 'a boolean',
  end: 'a date string or Date',
  from: 'a string',
  ignoreDependencies: 'a boolean',
  markSuccess: 'a boolean',
  maxActiveRuns: 'a positive integer',
  parallelism: 'a positive integer',
  partitions: 'an array of strings',
  rerunFailedTasks: 'a boolean',
  resetDagRuns: 'a boolean',
  runBackwards: 'a boolean',
  start: 'a date string or Date',
  tags: 'an object of strings',
  taskRegex: 'a RegExp or a string',
  to: 'a string',
}

/**
 * Plans and runs a backfill from options, exactly as `dags backfill` does from its flags: the same session, the
 * same record, the same document. `known` lists option names the caller handles itself (paths, executor, …);
 * any other unknown name is refused, so a misspelt option never silently widens a backfill.
 */
export async function launchBackfill(
  dag: Dag,
  options: BackfillRunOptions,
  context: SessionContext,
  run: {
    executor: RunSettings['executor']
    known: readonly string[]
    listener: BackfillListener
    notice: (text: string) => void
    /** With nothing to run (every selected task instance done already), return the plan and record nothing. */
    onlyIfWork?: boolean
    /** Told the session before it runs, for a caller that may have to force it to stop. */
    onSession?: (session: BackfillSession) => void
    parallelism: number
    signal: AbortSignal
  },
): Promise<{document: BackfillDocument; summary: BackfillSummary | null}> {
  const session = await BackfillSession.plan(dag, backfillRequestOfOptions(dag, options, run.known), context)
  const nothingToRun = session.plan.runs.length === 0 || (run.onlyIfWork === true && session.plan.runs.every((planned) => planned.tasks.length === 0))
  if (options.dryRun === true || nothingToRun) return {document: dryRunDocument(session.plan), summary: null}
  const settings: RunSettings = {
    conf: options.conf ?? {},
    disableRetry: options.disableRetry === true,
    executor: run.executor,
    markSuccess: options.markSuccess === true,
    maxActiveRuns: options.maxActiveRuns ?? dag.maxActiveRuns,
    parallelism: options.parallelism ?? run.parallelism,
  }
  run.onSession?.(session)
  const summary = await session.run(settings, {listener: run.listener, notice: run.notice, signal: run.signal})
  return {document: summaryDocument(summary), summary}
}

/** The planner's request for `backfill()`'s options, refusing unknown names (other than `known`) and wrong types. */
export function backfillRequestOfOptions(dag: Dag, options: BackfillRunOptions, known: readonly string[]): BackfillRequest {
  checkOptions(options, known)
  const selection: SelectionFlags = {
    endDate: options.end === undefined ? undefined : dateOption(options.end, 'end'),
    from: options.from,
    logicalDates: options.dates?.map((date, index) => dateOption(date, `dates[${index}]`)),
    partitions: options.partitions,
    startDate: options.start === undefined ? undefined : dateOption(options.start, 'start'),
    to: options.to,
  }
  const request = backfillRequestOf(dag, selection, {
    batchSize: options.batchSize === undefined ? undefined : options.batchSize === 'all' ? null : options.batchSize,
    ignoreDependencies: options.ignoreDependencies,
    rerunFailedTasks: options.rerunFailedTasks,
    resetDagRuns: options.resetDagRuns,
    runBackwards: options.runBackwards,
    tags: options.tags,
    taskRegex: typeof options.taskRegex === 'string' ? parseRegex(options.taskRegex, 'taskRegex') : (options.taskRegex ?? null),
  })
  if (request.ignoreDependencies && request.taskRegex === null) {
    throw new UpdraftError('USAGE', 'Expected taskRegex with ignoreDependencies (it treats the upstream of the matching tasks as satisfied), got no taskRegex.', {exit: 2})
  }

  return request
}

function checkOptions(options: BackfillRunOptions, known: readonly string[]): void {
  if (typeof options !== 'object' || options === null) throw new UpdraftError('USAGE', `Expected backfill options as an object, got ${options === null ? 'null' : typeof options}.`, {exit: 2})
  for (const [name, value] of Object.entries(options)) {
    if (value === undefined || known.includes(name)) continue
    const expected = RUN_OPTION_TYPES[name as keyof BackfillRunOptions]
    if (expected === undefined) {
      throw new UpdraftError('USAGE', `Expected options of backfill() (${[...known, ...Object.keys(RUN_OPTION_TYPES)].sort().join(', ')}), got unknown option "${name}".`, {exit: 2})
    }

    if (!hasType(name as keyof BackfillRunOptions, value)) {
      const code = name === 'batchSize' ? 'INVALID_BATCH_SIZE' : name === 'conf' ? 'INVALID_CONF' : 'USAGE'
      throw new UpdraftError(code, `Expected ${name} to be ${expected}, got ${JSON.stringify(value) ?? typeof value}.`, {exit: 2})
    }
  }
}

function hasType(name: keyof BackfillRunOptions, value: unknown): boolean {
  const isDate = (item: unknown) => typeof item === 'string' || (item instanceof Date && !Number.isNaN(item.getTime()))
  const isPlainObject = (item: unknown) => typeof item === 'object' && item !== null && !Array.isArray(item)
  switch (name) {
    case 'batchSize':
      return value === 'all' || (Number.isSafeInteger(value) && (value as number) >= 1)
    case 'conf':
      return isPlainObject(value)
    case 'dates':
      return Array.isArray(value) && value.every((item) => isDate(item))
    case 'end':
    case 'start':
      return isDate(value)
    case 'from':
    case 'to':
      return typeof value === 'string'
    case 'maxActiveRuns':
    case 'parallelism':
      return Number.isSafeInteger(value) && (value as number) >= 1
    case 'partitions':
      return Array.isArray(value) && value.every((item) => typeof item === 'string')
    case 'tags':
      return isPlainObject(value) && Object.values(value as object).every((item) => typeof item === 'string')
    case 'taskRegex':
      return typeof value === 'string' || value instanceof RegExp
    default:
      return typeof value === 'boolean'
  }
}

/** A date option: text as `-s` takes it (read in the DAG's zone unless it carries an offset), or a Date instant. */
function dateOption(value: Date | string, name: string) {
  return parseDateTime(value instanceof Date ? value.toISOString() : value, name)
}
