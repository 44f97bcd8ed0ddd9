import type {ProcessInfo} from './file-lock.js'
import type {PoolStore} from './pools.js'
import type {BackfillRecord, DagRunRecord, DagSettings, DagState, StateChange} from './schema.js'

/** A span of logical dates (UTC ISO instants, both ends included): a command reads the runs it needs, no more. */
export interface RunRange {
  from: string
  to: string
}

/** What a DAG's runs say about it, kept beside the records so listing DAGs reads none of their runs. */
export interface DagSummary {
  /** The run started last, of any type. */
  last_run: null | Pick<DagRunRecord, 'logical_date' | 'partition_key' | 'run_id' | 'start_date' | 'state'>
  /** The latest run the scheduler started (README "Running the scheduler"), and whether it has finished. */
  last_scheduled: null | {finished: boolean; logical_date: string}
}

/** The summary once `runs` (in any order) are recorded over it. */
export function summaryAfter(summary: DagSummary, runs: Iterable<DagRunRecord>): DagSummary {
  let {last_run: lastRun, last_scheduled: lastScheduled} = summary
  for (const run of runs) {
    if (run.start_date !== null && (lastRun === null || lastRun.run_id === run.run_id || run.start_date > (lastRun.start_date ?? ''))) {
      lastRun = {logical_date: run.logical_date, partition_key: run.partition_key, run_id: run.run_id, start_date: run.start_date, state: run.state}
    }

    if (!run.run_id.startsWith('scheduled__') || run.logical_date === null || (lastScheduled !== null && run.logical_date < lastScheduled.logical_date)) continue
    lastScheduled = {finished: run.state === 'success' || run.state === 'failed', logical_date: run.logical_date}
  }

  return {last_run: lastRun, last_scheduled: lastScheduled}
}

export const NO_SUMMARY: DagSummary = {last_run: null, last_scheduled: null}

/**
 * A backfill record as the catalog lists it: without its run ids (a year of hourly runs is 8,760 of them), which
 * `readBackfillRunIds` reads for the one record that needs them, so listing records costs the same whatever
 * they cover.
 */
export type ListedBackfill = Omit<BackfillRecord, 'run_ids'> & {runs_total: number}

export function listedBackfillOf(record: BackfillRecord): ListedBackfill {
  const {run_ids: runIds, ...listed} = record
  return {...listed, runs_total: runIds.length}
}

/** The whole record of a listed one, given its run ids. */
export function wholeBackfillOf(listed: ListedBackfill, runIds: string[]): BackfillRecord {
  const {runs_total: _total, ...record} = listed
  return {...record, run_ids: runIds}
}

/** What every DAG shares: settings, backfill records and per-DAG summaries, without any task instance. */
export interface Catalog {
  backfills: readonly ListedBackfill[]
  settings: Readonly<Record<string, DagSettings>>
  summaries: Readonly<Record<string, DagSummary>>
}

/** A run as ownership sees it: a date (or partition) of a DAG, whatever type of run records it. */
export interface ClaimedRun {
  /** The logical date and partition key: a scheduled and a backfill run of one date are the same run here. */
  key: string
  run_id: string
}

/** A claim made (`release` gives the runs back), or the first wanted run a live process owns, and its owner. */
export type ClaimResult = {owner: RunClaim; run: ClaimedRun} | {release: () => Promise<void>}

/** What a live process owns of a DAG while its backfill runs. */
export interface RunClaim {
  pid: number
  runs: readonly ClaimedRun[]
  since: string
}

/** The key ownership compares: two runs of one date and partition are one run, whichever type recorded them. */
export function claimKeyOf(run: {logical_date: null | string; partition_key: null | string}): string {
  return `${run.logical_date ?? ''}\u0000${run.partition_key ?? ''}`
}

/** How a store is opened: who asks, the clock, and the one DAG it may write (null: only read, or settings). */
export interface StoreOptions {
  clock: () => Date
  /** Called once when a write fails; from then on nothing more is written, and nothing more is called durable. */
  onFailure?: (error: Error) => void
  process: ProcessInfo
  writer: null | string
}

/**
 * The only door to state (README "Where state lives"). Reads return data shared with the store: callers read it and never change it.
 * A store opened with a `writer` records that DAG's runs, task instances and backfill records. Every change is
 * sent to durable storage at the end of the turn of the event loop it was recorded in (the embedded store's
 * journal, written by then; a PostgreSQL statement, durable once it commits): `whenDurable` says when it is.
 * `flush()` folds changes into the store's documents and waits for what is in flight.
 */
export interface StateStore {
  /** Claims `runs` of `dagId` for this process unless a live process owns one: then that run and its owner. */
  claimRuns(dagId: string, runs: readonly ClaimedRun[]): Promise<ClaimResult>
  /** Folds recorded changes into the store and stops background flushing. */
  close(): Promise<void>
  /** Asks the backfill of record `backfillId` to stop, saying who asked. */
  requestCancel(backfillId: number, by: string): Promise<void>
  /** Pools and the slots processes hold in them (README "Pools"), shared by every process that opens this store. */
  readonly pools: PoolStore
  /** Who asked the backfill of record `backfillId` to stop, or null; `clear` withdraws the request once heard. */
  cancelRequestOf(backfillId: number, options?: {clear: boolean}): Promise<null | string>
  /** A value that changes whenever anything recorded changes: long-lived readers read again only then. */
  changeSignature(): Promise<string>
  /** Records a new backfill under the next free id of the whole store, made by `make`. */
  createBackfill(make: (id: number) => BackfillRecord): Promise<BackfillRecord>
  /** Folds recorded changes into the store now. */
  flush(): Promise<void>
  /** Asks the backfill of record `backfillId` to pause (start no new task instance) or to go on. */
  requestPause(backfillId: number, paused: boolean): Promise<void>
  /** Whether the backfill of record `backfillId` is asked to pause. */
  pauseRequested(backfillId: number): Promise<boolean>
  /**
   * Changes record `backfillId` atomically, as no other process changes it at the same time: `change` gets the
   * record as it stands and returns it changed, or null to leave it. Returns what was written, or null. For
   * records no live backfill writes: queued and paused requests (README "Requests and the scheduler").
   */
  updateBackfill(backfillId: number, change: (record: BackfillRecord) => BackfillRecord | null): Promise<BackfillRecord | null>
  /** The claims live processes hold on `dagId`; those of dead processes are not listed. */
  liveClaims(dagId: string): Promise<RunClaim[]>
  /** A try's log as recorded at `path`: the file when it is on this machine, else the store's copy, if it keeps one. */
  readLog(path: string): Promise<null | string>
  /** The run ids of backfill `backfillId`, in the order it covers them; none for an unknown id. */
  readBackfillRunIds(backfillId: number): Promise<string[]>
  /** Settings, records and summaries of every DAG. */
  readCatalog(): Promise<Catalog>
  /** Every DAG id with recorded runs. */
  readDagIds(): Promise<string[]>
  /** The runs of one DAG, all of them or those whose logical date lies in `range` (plus runs without a date). */
  readRuns(dagId: string, range?: null | RunRange): Promise<Readonly<DagState>>
  /** Applies changes and sends them to durable storage at the end of this turn of the event loop. */
  record(changes: readonly StateChange[]): void
  /** Changes DAG settings under the store's lock; returns them as written. */
  updateDagSettings(update: (settings: Record<string, DagSettings>) => void): Promise<Record<string, DagSettings>>
  /**
   * Runs `callback` once everything recorded so far is durable (at once if it already is), and never if making
   * it durable fails: what a callback shows can then not be lost to a crash.
   */
  whenDurable(callback: () => void): void
  /** Makes what was recorded durable now, for an exit that cannot wait for the end of the turn. */
  writeJournal(): void
}
