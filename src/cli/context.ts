import {resolve} from 'node:path'

import type {Clock} from '../core/clock.js'

/** What a command needs from the process, resolved once: absolute paths and the system clock. */
export interface CommandContext {
  clock: Clock
  dagsFolder: string
  dbPath: string
}

/** Resolves flag values (oclif already applied flag > env > default) against the working directory. */
export function commandContext(flags: {'dags-folder': string; db?: string}): CommandContext {
  return {
    clock: () => new Date(),
    dagsFolder: resolve(process.cwd(), flags['dags-folder']),
    dbPath: resolve(process.cwd(), flags.db ?? '.updraft/db.json'),
  }
}
