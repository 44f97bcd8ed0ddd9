import {openSync, readFileSync, rmSync, writeSync, closeSync} from 'node:fs'

/** Who holds a lock file: written into it so a waiting process can name the holder or detect a dead one. */
export interface LockHolder {
  pid: number
  since: string
}

/** Process facts the core cannot look up itself. */
export interface ProcessInfo {
  /** The machine's name, recorded with the pid so a record says where its backfill runs. */
  host: string
  isAlive(pid: number): boolean
  pid: number
}

/**
 * Creates `path` exclusively. A lock left by a dead process is removed and taken over; a live holder is
 * returned instead of the release function.
 */
export function tryLock(path: string, owner: ProcessInfo, now: Date): {holder: LockHolder} | {release: () => void} {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx')
      writeSync(fd, JSON.stringify({pid: owner.pid, since: now.toISOString()} satisfies LockHolder))
      closeSync(fd)
      return {
        release() {
          try {
            rmSync(path, {force: true})
          } catch {
            // A folder turned unwritable keeps the file; the next process takes over a lock whose holder is gone.
          }
        },
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }

    const holder = readHolder(path)
    if (holder && owner.isAlive(holder.pid)) return {holder}
    rmSync(path, {force: true})
  }

  const holder = readHolder(path)
  return {holder: holder ?? {pid: -1, since: 'unknown'}}
}

/** Who holds the lock at `path`, or null if nobody does. */
function readHolder(path: string): LockHolder | null {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockHolder>
    return typeof parsed.pid === 'number' ? {pid: parsed.pid, since: String(parsed.since)} : null
  } catch {
    // A lock file caught half-written, or gone: treat as no holder.
    return null
  }
}
