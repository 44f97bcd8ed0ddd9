import {UpdraftError} from '../errors.js'
import {DEFAULT_POOL} from '../dag/model.js'
import {DEFAULT_POOL_DESCRIPTION, DEFAULT_POOL_SLOTS} from './pools.js'
import type {StateChange} from './schema.js'
import {type StateStore, wholeBackfillOf} from './store.js'

/** What a copy moved. */
export interface CopiedState {
  backfills: number
  dags: number
  pools: number
  runs: number
  settings: number
}

/** Runs are sent in slices of this many: a DAG's whole history is not one batch. */
const RUNS_PER_BATCH = 500

/**
 * Copies a whole state into an empty store: every DAG's runs and task instances, every backfill record under its
 * own id, and the DAG settings. `open` opens the target as the writer of one DAG (each DAG is written by its own
 * writer, as backfills write them). Task logs stay where they are: their paths are copied with the runs.
 */
export async function copyState(source: StateStore, target: StateStore, open: (writer: string) => Promise<StateStore>, names: {from: string; to: string}): Promise<CopiedState> {
  const [sourceDags, sourceCatalog] = [await source.readDagIds(), await source.readCatalog()]
  if (sourceDags.length === 0 && sourceCatalog.backfills.length === 0 && Object.keys(sourceCatalog.settings).length === 0) {
    throw new UpdraftError('DB_COPY_SOURCE_EMPTY', `Expected state to copy in ${names.from}, got none (no runs, records or settings).`)
  }

  const targetCatalog = await target.readCatalog()
  if ((await target.readDagIds()).length > 0 || targetCatalog.backfills.length > 0 || Object.keys(targetCatalog.settings).length > 0) {
    throw new UpdraftError('DB_COPY_TARGET_NOT_EMPTY', `Expected an empty store to copy into at ${names.to}, got one that holds state; nothing was copied.`, {
      suggestions: ['Copy into a new database or a new --db path.'],
    })
  }

  const copied: CopiedState = {backfills: 0, dags: 0, pools: 0, runs: 0, settings: 0}
  const dagIds = [...new Set([...sourceDags, ...sourceCatalog.backfills.map((record) => record.dag_id)])]
  for (const dagId of dagIds) {
    const writer = await open(dagId)
    const runs = Object.values((await source.readRuns(dagId)).runs)
    for (let start = 0; start < runs.length; start += RUNS_PER_BATCH) {
      writer.record(runs.slice(start, start + RUNS_PER_BATCH).map((run): StateChange => ({dag_id: dagId, run: structuredClone(run), type: 'run'})))
      await writer.flush()
    }

    for (const listed of sourceCatalog.backfills.filter((record) => record.dag_id === dagId)) {
      writer.record([{backfill: wholeBackfillOf(structuredClone(listed), await source.readBackfillRunIds(listed.id)), dag_id: dagId, type: 'backfill'}])
      copied.backfills += 1
    }

    await writer.close()
    copied.dags += runs.length > 0 ? 1 : 0
    copied.runs += runs.length
  }

  await target.updateDagSettings((settings) => {
    Object.assign(settings, structuredClone(sourceCatalog.settings))
  })
  copied.settings = Object.keys(sourceCatalog.settings).length
  // Pool sizes are settings too; the slots held in them belong to processes of the old store and stay behind.
  for (const pool of await source.pools.list()) {
    if (pool.name === DEFAULT_POOL && pool.slots === DEFAULT_POOL_SLOTS && pool.description === DEFAULT_POOL_DESCRIPTION) continue
    await target.pools.set(pool.name, pool.slots, pool.description)
    copied.pools += 1
  }

  return copied
}
