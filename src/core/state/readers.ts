import type {Clock} from '../clock.js'
import type {Dag} from '../dag/model.js'
import {isUpdraftError} from '../errors.js'
import {loadDag} from '../loader/load-dags.js'
import {dateLabeler, type DateLabeler} from '../schedule/logical-date.js'
import {labelerFor} from '../schedule/resolve-dates.js'
import {currentRecord, isInProcess, findBackfill, progressOf} from './backfills.js'
import type {ProcessInfo} from './file-lock.js'
import {openStore} from './open-store.js'
import {withoutDeadBackfill} from './queries.js'
import type {BackfillRecord, DagSettings, DagState} from './schema.js'
import {type DagSummary, type ListedBackfill, listedBackfillOf, type RunRange, type StateStore, wholeBackfillOf} from './store.js'

/** What a reader of the state needs: where things are, the clock, and who is asking. */
export interface StateReaderContext {
  clock: Clock
  dagsFolder: string
  /** The store: the embedded store's catalog path, or a database URL. */
  dbPath: string
  process: ProcessInfo
}

/**
 * The store opened without a DAG to write: reading creates, writes or upgrades nothing; what the caller asks
 * it to change (settings, a cancel request) it changes under the store's lock.
 */
export function openSharedStore(context: Omit<StateReaderContext, 'dagsFolder'>): Promise<StateStore> {
  return openStore(context.dbPath, {clock: context.clock, process: context.process, writer: null})
}

/** A try's log recorded at `path`, from this machine or, for a store that keeps logs, from the store. */
export async function readTryLog(context: Omit<StateReaderContext, 'dagsFolder'>, path: string): Promise<null | string> {
  return (await openSharedStore(context)).readLog(path)
}

/** A DAG with recorded state, and how its dates read to a person. */
export interface DagOfRecords {
  /** Null when the DAG file is gone but its runs are still recorded. */
  dag: Dag | null
  labelOf: DateLabeler
  /** The DAG's partition keys; none when its file is gone. */
  partitions: string[]
  timezone: string
}

/** A DAG's recorded runs as they stand now, with how its dates read to a person. */
export interface RecordedDag extends DagOfRecords {
  state: DagState
}

/**
 * Loads a DAG whose state is being read. One that cannot be loaded is an error only when nothing of it is
 * recorded: its file may have been deleted or broken since, and its runs are still worth reading (their dates
 * then read in UTC).
 */
export async function dagOfRecords(context: Pick<StateReaderContext, 'dagsFolder'>, dagId: string, isRecorded: () => Promise<boolean>): Promise<DagOfRecords> {
  let dag: Dag | null = null
  try {
    dag = await loadDag(context.dagsFolder, dagId)
  } catch (error) {
    if (!isUpdraftError(error) || !(await isRecorded())) throw error
  }

  return {dag, labelOf: dag ? labelerFor(dag) : dateLabeler('UTC', false), partitions: dag?.partitions ?? [], timezone: dag?.timezone ?? 'UTC'}
}

/**
 * Reads a DAG's runs (those in `range` only, when given) for the inspection commands. Without a live backfill
 * owning them, runs recorded as in progress are shown as the next backfill will find them.
 */
export async function readRecordedDag(context: StateReaderContext, dagId: string, range: null | RunRange = null): Promise<RecordedDag> {
  const store = await openSharedStore(context)
  const recorded = await store.readRuns(dagId, range)
  const described = await dagOfRecords(context, dagId, async () => (await store.readDagIds()).includes(dagId))
  const owned = new Set((await store.liveClaims(dagId)).flatMap((claim) => claim.runs.map((run) => run.run_id)))
  return {...described, state: withoutDeadBackfill(recorded, owned)}
}

/**
 * The backfill records as they read now (newest first), listed without their run ids; a record's run ids and a
 * DAG's runs are read when first asked for.
 */
export interface RecordedBackfills {
  /** The whole record with this id (`backfills show 3`), or `BACKFILL_NOT_FOUND`. */
  find(reference: string): Promise<BackfillRecord>
  records: ListedBackfill[]
  /** The whole record of a listed one. */
  whole(record: ListedBackfill): Promise<BackfillRecord>
  /** Pause states of DAGs that were paused, unpaused or seen by the scheduler. */
  settings: Readonly<Record<string, DagSettings>>
  stateOf(dagId: string): Promise<DagState>
  summaries: Readonly<Record<string, DagSummary>>
}

/** Reads every backfill record; a running one whose process is gone reads `interrupted` (see `currentRecord`). */
export async function readBackfills(context: Omit<StateReaderContext, 'dagsFolder'>): Promise<RecordedBackfills> {
  const store = await openSharedStore(context)
  const catalog = await store.readCatalog()
  const states = new Map<string, Promise<DagState>>()
  const stateOf = (dagId: string) => states.get(dagId) ?? states.set(dagId, store.readRuns(dagId)).get(dagId) as Promise<DagState>
  const runIds = new Map<number, Promise<string[]>>()
  const runIdsOf = (id: number) => runIds.get(id) ?? runIds.set(id, store.readBackfillRunIds(id)).get(id) as Promise<string[]>
  const whole = async (record: ListedBackfill) => wholeBackfillOf(record, await runIdsOf(record.id))
  const records: ListedBackfill[] = []
  for (const record of catalog.backfills) {
    if (!isInProcess(record)) {
      records.push(record)
      continue
    }

    const live = (await store.liveClaims(record.dag_id)).some((claim) => claim.pid === record.pid)
    records.push(listedBackfillOf(currentRecord(await whole(record), await stateOf(record.dag_id), live ? record.pid : null)))
  }

  records.sort((a, b) => b.id - a.id)
  return {find: async (reference) => whole(findBackfill(records, reference)), records, settings: catalog.settings, stateOf, summaries: catalog.summaries, whole}
}

/** How many of a record's runs have finished: as it last stopped, or as its runs stand while it runs. */
export async function progressNow(record: ListedBackfill, recorded: Pick<RecordedBackfills, 'stateOf' | 'whole'>): Promise<{done: number; total: number}> {
  if (record.state !== 'running' && record.runs_done !== undefined) return {done: record.runs_done, total: record.runs_total}
  return progressOf(await recorded.whole(record), await recorded.stateOf(record.dag_id))
}
