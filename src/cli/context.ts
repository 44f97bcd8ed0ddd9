import {dirname, join, resolve} from 'node:path'

import type {Clock} from '../core/clock.js'
import type {ProcessInfo} from '../core/state/file-lock.js'
import {JsonFileStore} from '../core/state/json-file-store.js'

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
    process: {isAlive: isProcessAlive, pid: process.pid},
  }
}

/** The state file opened for reading only: it is never created or written. */
export function readOnlyStore(context: CommandContext): Promise<JsonFileStore> {
  return JsonFileStore.open({clock: context.clock, ownDagId: null, path: context.dbPath, process: context.process})
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
