import {mkdirSync} from 'node:fs'
import {dirname} from 'node:path'

import {LowSync} from 'lowdb'
import {JSONFileSync} from 'lowdb/node'

import {UpdraftError} from '../../errors.js'
import {type DagRunRecord, type DagSettings, SCHEMA_VERSION, type StateFile} from '../schema.js'
import type {DagSummary, ListedBackfill} from '../store.js'

/** The catalog document: everything but runs, small enough for every command to read whole. */
export interface CatalogDocument {
  backfills: Record<string, ListedBackfill>
  dag_settings: Record<string, DagSettings>
  /** Per DAG with runs, what `dags list` and the scheduler need without reading them. */
  dags: Record<string, DagSummary>
  schema_version: number
}

/** The run ids of one backfill record, kept out of the catalog. */
export interface RunIdsDocument {
  run_ids: string[]
}

/** A shard: the runs of one DAG whose logical dates fall in one period, keyed by run id. */
export interface ShardDocument {
  runs: Record<string, DagRunRecord>
}

/**
 * The period a run's shard covers: the calendar month (UTC) of its logical date, and `keys` for runs without
 * one (key-only partitioned DAGs). Measured on an hourly DAG of 10 tasks, a month is 720 runs, about 2.6 MB:
 * it parses in about 20 ms, so a one-date command pays little for its neighbours, while a year-long backfill
 * writes 12 of them and a daily DAG's year is 12 small files rather than 365.
 */
export function periodOf(logicalDate: null | string): string {
  return logicalDate === null ? 'keys' : logicalDate.slice(0, 7)
}

/** The periods from the month of `from` to the month of `to`, both included. */
export function periodsBetween(from: string, to: string): string[] {
  const periods: string[] = []
  let [year, month] = from.slice(0, 7).split('-').map(Number) as [number, number]
  const last = to.slice(0, 7)
  for (;;) {
    const period = `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}`
    if (period > last) return periods
    periods.push(period)
    month += 1
    if (month > 12) {
      month = 1
      year += 1
    }
  }
}

export function emptyCatalog(): CatalogDocument {
  return {backfills: {}, dag_settings: {}, dags: {}, schema_version: SCHEMA_VERSION}
}

/**
 * Reads one lowdb document; a missing one is `fallback`. lowdb's JSONFileSync writes a temporary file and
 * renames it over the document, so a reader always sees a whole document, before or after a write.
 */
export function readDocument<T>(path: string, fallback: T): T {
  const db = new LowSync<T>(new JSONFileSync<T>(path), fallback)
  try {
    db.read()
  } catch (error) {
    if (error instanceof SyntaxError) {
      throw new UpdraftError('STATE_FILE_CORRUPT', `Expected the state document ${path} to be JSON, got a parse error: ${error.message}. It was left untouched; move the state folder aside to start afresh.`)
    }

    throw new UpdraftError('STATE_FILE_UNREADABLE', `Expected a readable state document at ${path}, got ${(error as Error).message}`)
  }

  return db.data
}

/** Writes one lowdb document whole: a temporary file renamed over it, so a crash leaves it valid. */
export function writeDocument<T>(path: string, data: T): void {
  mkdirSync(dirname(path), {recursive: true})
  const db = new LowSync<T>(new JSONFileSync<T>(path), data)
  db.write()
}

/**
 * What the catalog's path holds: nothing yet, a catalog of this schema, or a whole state file of an older one
 * (schema 1 or 2, the single document older releases wrote). A newer schema is refused untouched.
 */
export function readCatalogOrLegacy(path: string): {catalog: CatalogDocument; kind: 'catalog'} | {file: StateFile; kind: 'legacy'} | {kind: 'none'} {
  const parsed = readDocument<null | Record<string, unknown>>(path, null)
  if (parsed === null) return {kind: 'none'}
  const version = parsed.schema_version
  if (typeof parsed !== 'object' || typeof version !== 'number' || typeof parsed.dags !== 'object' || parsed.dags === null) {
    throw new UpdraftError('STATE_FILE_CORRUPT', `Expected the state file ${path} to hold {schema_version, dags}, got something else. It was left untouched.`)
  }

  if (version > SCHEMA_VERSION) {
    throw new UpdraftError('STATE_SCHEMA_TOO_NEW', `Expected state schema_version ${SCHEMA_VERSION} or older in ${path}, got ${version}; upgrade updraft to read it. It was left untouched.`)
  }

  if (version < SCHEMA_VERSION) return {file: parsed as unknown as StateFile, kind: 'legacy'}
  return {catalog: {...emptyCatalog(), ...(parsed as unknown as CatalogDocument)}, kind: 'catalog'}
}
