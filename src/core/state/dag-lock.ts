import {mkdirSync} from 'node:fs'
import {dirname} from 'node:path'

import {UpdraftError} from '../errors.js'
import {type LockHolder, type ProcessInfo, readHolder, tryLock} from './file-lock.js'

/**
 * Takes the per-DAG lock next to the state file so two backfills of one DAG cannot interleave. A lock whose
 * holder is gone (crash, kill -9) is taken over; a live holder makes this fail fast, naming its pid.
 */
export function acquireDagLock(dbPath: string, dagId: string, owner: ProcessInfo, now: Date): () => void {
  const path = lockPathOf(dbPath, dagId)
  let result
  try {
    mkdirSync(dirname(dbPath), {recursive: true})
    result = tryLock(path, owner, now)
  } catch (error) {
    throw new UpdraftError('STATE_FILE_UNWRITABLE', `Expected a writable state directory ${dirname(dbPath)}, got ${(error as NodeJS.ErrnoException).code ?? 'an error'}: ${(error as Error).message}`, {
      suggestions: ['Pass --db or set UPDRAFT_DB to a writable location.'],
    })
  }

  if ('release' in result) return result.release
  throw new UpdraftError(
    'BACKFILL_LOCKED',
    `Expected no other backfill of ${dagId} to be running, got pid ${result.holder.pid} (since ${result.holder.since}) holding ${path}.`,
    {suggestions: [`Wait for pid ${result.holder.pid} to finish, or stop it; a lock left by a dead process is taken over automatically.`]},
  )
}

/** The live process backfilling `dagId`, if any; a lock left by a dead process counts as none. */
export function liveBackfillOf(dbPath: string, dagId: string, owner: ProcessInfo): LockHolder | null {
  const holder = readHolder(lockPathOf(dbPath, dagId))
  return holder && owner.isAlive(holder.pid) ? holder : null
}

function lockPathOf(dbPath: string, dagId: string): string {
  return `${dbPath}.${encodeURIComponent(dagId)}.lock`
}
