/** One logical date with its data interval `[start, end)`; instants are UTC ISO strings. */
export interface CoveredDate {
  data_interval_end: string
  data_interval_start: string
  logical_date: string
}

/**
 * What one execution of a DAG's task graph covers, like Airflow's DagRunInfo with a partition key: no date (a
 * key-only run), one date (the common case) or several consecutive dates (a batch, README "Backfill policies"), and optionally one
 * static partition key (README "Partitions").
 */
export interface RunSpec {
  /** Covered dates, oldest first. */
  dates: CoveredDate[]
  partition_key: null | string
  run_id: string
}

/** A run as the `--json` documents describe it: the window of the whole run, null for a key-only run. */
export interface RunWindow {
  data_interval_end: null | string
  data_interval_start: null | string
  logical_date: null | string
  logical_dates: string[]
  partition_key: null | string
  run_id: string
}

/** Who made a run (Airflow's run type): a backfill, or the scheduler on the DAG's schedule (README "Running the scheduler"). */
export const RUN_TYPES = ['backfill', 'scheduled'] as const
export type RunType = (typeof RUN_TYPES)[number]
const RUN_TYPE_PREFIX = new RegExp(`^(${RUN_TYPES.join('|')})__`)

/**
 * The run id of a run: `backfill__<date>` for one date, `backfill__<first>--<last>` for a batch, `__<key>`
 * appended for a partition, and `backfill__<key>` for a key-only run; `scheduled__<date>` for the scheduler's.
 */
export function runIdOf(dates: readonly CoveredDate[], partitionKey: null | string, runType: RunType = 'backfill'): string {
  const keySuffix = partitionKey === null ? '' : `__${partitionKey}`
  const first = dates[0]
  const last = dates.at(-1)
  if (!first || !last) return `${runType}__${partitionKey ?? ''}`
  const covered = first === last ? isoPart(first) : `${isoPart(first)}--${isoPart(last)}`
  return `${runType}__${covered}${keySuffix}`
}

/**
 * What a run covers, whoever made it: its id without the run type. A date (and key) has one run record, so a
 * backfill finds the scheduler's run of a date, and the scheduler a backfill's (README "Running the scheduler": never run twice by either).
 */
export function coverageOf(runId: string): string {
  return runId.replace(RUN_TYPE_PREFIX, '')
}

const COVERED_DATES = /^(\d{4}-\d{2}-\d{2}T[^_]*?)(?:--[^_]*)?(?:__(.*))?$/

/**
 * The first logical date and the key a run id names (the reverse of `runIdOf`), for a run a backfill planned
 * but never started: it has no record yet, and still has a date to be labelled with.
 */
export function coveredByRunId(runId: string): {logical_date: null | string; partition_key: null | string} {
  const coverage = coverageOf(runId)
  const dated = COVERED_DATES.exec(coverage)
  if (!dated) return {logical_date: null, partition_key: coverage === '' ? null : coverage}
  const instant = new Date(dated[1] as string)
  return {logical_date: Number.isNaN(instant.getTime()) ? null : instant.toISOString(), partition_key: dated[2] ?? null}
}

/** A run spec, its id derived from what it covers. */
export function runSpec(dates: CoveredDate[], partitionKey: null | string): RunSpec {
  return {dates, partition_key: partitionKey, run_id: runIdOf(dates, partitionKey)}
}

/**
 * The window of a run: its first date's logical date and interval start, its last date's interval end. A
 * one-date run is exactly that date.
 */
export function runWindow(spec: RunSpec): RunWindow {
  const first = spec.dates[0]
  const last = spec.dates.at(-1)
  return {
    run_id: spec.run_id,
    partition_key: spec.partition_key,
    logical_date: first?.logical_date ?? null,
    logical_dates: spec.dates.map((date) => date.logical_date),
    data_interval_start: first?.data_interval_start ?? null,
    data_interval_end: last?.data_interval_end ?? null,
  }
}

/** How one run record reads to a person: its date in the DAG's zone (if it has one) and its key. */
export function recordLabel(record: {logical_date: null | string; partition_key: null | string}, labelOf: (iso: string) => string): string {
  return runLabel({logical_dates: record.logical_date === null ? [] : [record.logical_date], partition_key: record.partition_key}, labelOf)
}

/** How a run reads to a person: `2024-03-05`, `2024-03-05 · eu`, `2024-03-01 → 2024-03-07`, or just the key. */
export function runLabel(run: Pick<RunWindow, 'logical_dates' | 'partition_key'>, labelOf: (iso: string) => string): string {
  const first = run.logical_dates[0]
  const last = run.logical_dates.at(-1)
  if (first === undefined || last === undefined) return run.partition_key ?? ''
  const dates = run.logical_dates.length === 1 ? labelOf(first) : `${labelOf(first)} → ${labelOf(last)}`
  return run.partition_key === null ? dates : `${dates} · ${run.partition_key}`
}

/** The date part of a run id, as Airflow writes it (`2024-01-01T00:00:00+00:00`), straight from the stored UTC ISO string. */
function isoPart(date: CoveredDate): string {
  return date.logical_date.replace(/\.000Z$/, 'Z').replace(/Z$/, '+00:00')
}
