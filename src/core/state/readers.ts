import type {Clock} from '../clock.js'
import type {Dag} from '../dag/model.js'
import {isUpdraftError} from '../errors.js'
import {loadDag} from '../loader/load-dags.js'
import {dateLabeler, type DateLabeler} from '../schedule/logical-date.js'
import {labelerFor} from '../schedule/resolve-dates.js'
import {currentRecord} from './backfills.js'
import {liveClaimsOf} from './run-claims.js'
import type {ProcessInfo} from './file-lock.js'
import {JsonFileStore} from './json-file-store.js'
import {withoutDeadBackfill} from './queries.js'
import type {BackfillRecord, DagSettings, DagState} from './schema.js'

/** What a reader of the state file needs: where things are, the clock, and who is asking. */
export interface StateReaderContext {
  clock: Clock
  dagsFolder: string
  dbPath: string
  process: ProcessInfo
}

/** The state file opened for reading only: it is never created or written. */
function readOnlyStore(context: StateReaderContext): Promise<JsonFileStore> {
  return JsonFileStore.open({clock: context.clock, ownDagId: null, path: context.dbPath, process: context.process})
}

/** A DAG's recorded runs as they stand now, with how its dates read to a person. */
export interface RecordedDag {
  /** Null when the DAG file is gone but its runs are still recorded. */
  dag: Dag | null
  labelOf: DateLabeler
  /** The DAG's partition keys; none when its file is gone. */
  partitions: string[]
  state: DagState
  timezone: string
}

/**
 * Reads a DAG's runs for the inspection commands. A DAG that cannot be loaded is an error only when none of its
 * runs are recorded: its file may have been deleted or broken since, and its runs are still worth reading (their
 * dates then read in UTC). Without a live backfill of the DAG, whatever is recorded as in progress is shown as
 * the next backfill will find it.
 */
export async function readRecordedDag(context: StateReaderContext, dagId: string): Promise<RecordedDag> {
  const recorded = await (await readOnlyStore(context)).readDag(dagId)
  let dag: Dag | null = null
  try {
    dag = await loadDag(context.dagsFolder, dagId)
  } catch (error) {
    if (!isUpdraftError(error) || Object.keys(recorded.runs).length === 0) throw error
  }

  const owned = new Set(liveClaimsOf(context.dbPath, dagId, context.process).flatMap((claim) => claim.runs.map((run) => run.run_id)))
  return {
    dag,
    labelOf: dag ? labelerFor(dag) : dateLabeler('UTC', false),
    partitions: dag?.partitions ?? [],
    state: withoutDeadBackfill(recorded, owned),
    timezone: dag?.timezone ?? 'UTC',
  }
}

/** The backfill records of the state file as they read now (newest first), and the runs they refer to. */
export interface RecordedBackfills {
  records: BackfillRecord[]
  /** Pause states of DAGs that were paused, unpaused or seen by the scheduler. */
  settings: Record<string, DagSettings>
  stateOf(dagId: string): DagState
}

/** Reads every backfill record; one whose process is gone reads `interrupted` (see `currentRecord`). */
export async function readBackfills(context: StateReaderContext): Promise<RecordedBackfills> {
  const store = await readOnlyStore(context)
  const states = new Map<string, DagState>()
  for (const dagId of await store.readDagIds()) states.set(dagId, await store.readDag(dagId))
  const stateOf = (dagId: string) => states.get(dagId) ?? {runs: {}}
  const livePids = new Map<string, Set<number>>()
  const liveOn = (dagId: string) => livePids.get(dagId) ?? livePids.set(dagId, new Set(liveClaimsOf(context.dbPath, dagId, context.process).map((claim) => claim.pid))).get(dagId) as Set<number>
  const records = (await store.readBackfills())
    .map((record) => currentRecord(record, stateOf(record.dag_id), liveOn(record.dag_id).has(record.pid) ? record.pid : null))
    .sort((a, b) => b.id - a.id)
  return {records, settings: store.readDagSettings(), stateOf}
}

