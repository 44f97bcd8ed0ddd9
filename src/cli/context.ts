import {hostname} from 'node:os'
import {dirname, join, resolve} from 'node:path'

import type {Clock, Timers} from '../core/clock.js'
import type {ProcessInfo} from '../core/state/file-lock.js'
import {isDatabaseUrl} from '../core/state/open-store.js'

/** What a command needs from the process, resolved once: absolute paths, the clock, the environment. */
export interface CommandContext {
  /** The environment bash tasks start from. */
  baseEnv: Record<string, string>
  clock: Clock
  dagsFolder: string
  /** The embedded store's catalog path, or a database URL. */
  dbPath: string
  /** Per-try task logs: next to the embedded store's catalog, or in ./.updraft/logs with a database. */
  logsDir: string
  process: ProcessInfo
  timers: Timers
}

/** Resolves flag values (oclif already applied flag > env > default) against the working directory. */
export function commandContext(flags: {'dags-folder'?: string | undefined; db?: string | undefined}): CommandContext {
  const db = flags.db ?? '.updraft/db.json'
  const dbPath = isDatabaseUrl(db) ? db : resolve(process.cwd(), db)
  const baseEnv: Record<string, string> = {}
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined) baseEnv[name] = value
  return {
    baseEnv,
    clock: () => new Date(),
    dagsFolder: resolve(process.cwd(), flags['dags-folder'] ?? 'dags'),
    dbPath,
    logsDir: isDatabaseUrl(db) ? resolve(process.cwd(), '.updraft', 'logs') : join(dirname(dbPath), 'logs'),
    process: {host: hostname(), isAlive: isProcessAlive, pid: process.pid},
    timers: systemTimers,
  }
}

const systemTimers: Timers = {
  clearTimeout: (handle) => clearTimeout(handle.timer as NodeJS.Timeout),
  setTimeout: (callback, ms) => ({timer: setTimeout(callback, ms)}),
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

/** Columns to lay output out in: the terminal's, else `COLUMNS`, else 100. */
export function outputWidth(): number {
  return process.stdout.columns ?? (Number(process.env.COLUMNS) || 100)
}
