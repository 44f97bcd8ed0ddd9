import {hostname} from 'node:os'
import {dirname, join, resolve} from 'node:path'

import type {Clock} from '../core/clock.js'
import type {Dag} from '../core/dag/model.js'
import {isUpdraftError} from '../core/errors.js'
import {loadDag} from '../core/loader/load-dags.js'
import {dateLabeler, type DateLabeler} from '../core/schedule/logical-date.js'
import {labelerFor} from '../core/schedule/resolve-dates.js'
import {liveBackfillOf} from '../core/state/dag-lock.js'
import type {ProcessInfo} from '../core/state/file-lock.js'
import {JsonFileStore} from '../core/state/json-file-store.js'
import {withoutDeadBackfill} from '../core/state/queries.js'
import {currentRecord} from '../core/state/backfills.js'
import type {BackfillRecord, DagState} from '../core/state/schema.js'

/** What a command needs from the process, resolved once: absolute paths, the clock, the environment. */
export interface CommandContext {
  /** The environment bash tasks start from. */
  baseEnv: Record<string, string>
  clock: Clock
  dagsFolder: string
  dbPath: string
  /** Per-try task logs live next to the state file. */
  logsDir: string
  process: ProcessInfo
}

/** Resolves flag values (oclif already applied flag > env > default) against the working directory. */
export function commandContext(flags: {'dags-folder'?: string; db?: string}): CommandContext {
  const dbPath = resolve(process.cwd(), flags.db ?? '.updraft/db.json')
  const baseEnv: Record<string, string> = {}
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined) baseEnv[name] = value
  return {
    baseEnv,
    clock: () => new Date(),
    dagsFolder: resolve(process.cwd(), flags['dags-folder'] ?? 'dags'),
    dbPath,
    logsDir: join(dirname(dbPath), 'logs'),
    process: {host: hostname(), isAlive: isProcessAlive, pid: process.pid},
  }
}

/** The state file opened for reading only: it is never created or written. */
function readOnlyStore(context: CommandContext): Promise<JsonFileStore> {
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
export async function readRecordedDag(context: CommandContext, dagId: string): Promise<RecordedDag> {
  const recorded = await (await readOnlyStore(context)).readDag(dagId)
  let dag: Dag | null = null
  try {
    dag = await loadDag(context.dagsFolder, dagId)
  } catch (error) {
    if (!isUpdraftError(error) || Object.keys(recorded.runs).length === 0) throw error
  }

  const live = liveBackfillOf(context.dbPath, dagId, context.process) !== null
  return {
    dag,
    labelOf: dag ? labelerFor(dag) : dateLabeler('UTC', false),
    partitions: dag?.partitions ?? [],
    state: live ? recorded : withoutDeadBackfill(recorded),
    timezone: dag?.timezone ?? 'UTC',
  }
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM means the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The backfill records of the state file as they read now (newest first), and the runs they refer to. */
export interface RecordedBackfills {
  records: BackfillRecord[]
  stateOf(dagId: string): DagState
}

/** Reads every backfill record; one whose process is gone reads `interrupted` (see `currentRecord`). */
export async function readBackfills(context: CommandContext): Promise<RecordedBackfills> {
  const store = await readOnlyStore(context)
  const states = new Map<string, DagState>()
  for (const dagId of await store.readDagIds()) states.set(dagId, await store.readDag(dagId))
  const stateOf = (dagId: string) => states.get(dagId) ?? {runs: {}}
  const records = (await store.readBackfills())
    .map((record) => currentRecord(record, stateOf(record.dag_id), liveBackfillOf(context.dbPath, record.dag_id, context.process)?.pid ?? null))
    .sort((a, b) => b.id - a.id)
  return {records, stateOf}
}

/** Columns to lay output out in: the terminal's, else `COLUMNS`, else 100. */
export function outputWidth(): number {
  return process.stdout.columns ?? (Number(process.env.COLUMNS) || 100)
}
