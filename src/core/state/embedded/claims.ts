import {readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'

import {stateUnwritable, UpdraftError} from '../../errors.js'
import {type ProcessInfo, tryLock} from '../file-lock.js'
import type {ClaimedRun, ClaimResult, RunClaim} from '../store.js'
import type {StoreFiles} from './files.js'

const MUTEX_WAIT_MS = 10_000
/** One process can own several disjoint sets of runs of a DAG at once (the scheduler, `backfill()` in a script). */
let claimsMade = 0

/**
 * Claims `runs` of `dagId` for `owner`, unless a live process owns one of them: then that run and its owner are
 * returned, and nothing is claimed. Claims of dead processes are removed on the way, so their runs are taken
 * over. Claims are compared and written under a short per-DAG mutex, so two claimants of one run cannot both win.
 */
export async function claimRuns(files: StoreFiles, dagId: string, runs: readonly ClaimedRun[], owner: ProcessInfo, now: () => Date): Promise<ClaimResult> {
  const releaseMutex = await acquireLock(files.claimsLock(dagId), owner, now, MUTEX_WAIT_MS)
  try {
    for (const {path, pid} of files.claimsOf(dagId)) if (!owner.isAlive(pid)) rmSync(path, {force: true})
    const wanted = new Map(runs.map((run) => [run.key, run]))
    for (const claim of liveClaimsOf(files, dagId, owner)) {
      const taken = claim.runs.find((run) => wanted.has(run.key))
      if (taken) return {owner: claim, run: wanted.get(taken.key) as ClaimedRun}
    }

    const path = files.claim(dagId, owner.pid, ++claimsMade)
    const temporary = `${path}.tmp`
    writeFileSync(temporary, JSON.stringify({pid: owner.pid, runs, since: now().toISOString()} satisfies RunClaim))
    renameSync(temporary, path)
    return {
      async release() {
        try {
          rmSync(path, {force: true})
        } catch {
          // A folder turned unwritable keeps the claim; the next claimant finds its process gone and removes it.
        }
      },
    }
  } finally {
    releaseMutex()
  }
}

/** The claims of live processes on `dagId`; a reader leaves those of dead processes for the next claimant. */
export function liveClaimsOf(files: StoreFiles, dagId: string, owner: ProcessInfo): RunClaim[] {
  const claims: RunClaim[] = []
  for (const {path, pid} of files.claimsOf(dagId)) {
    if (!owner.isAlive(pid)) continue
    try {
      claims.push(JSON.parse(readFileSync(path, 'utf8')) as RunClaim)
    } catch {
      // Removed by its owner between the listing and the read: it owns nothing any more.
    }
  }

  return claims
}

/** Takes the lock file at `path`, waiting for a live holder up to `waitMs`; a dead holder's lock is taken over. */
export async function acquireLock(path: string, owner: ProcessInfo, now: () => Date, waitMs: number): Promise<() => void> {
  const started = now().getTime()
  for (;;) {
    let result
    try {
      result = tryLock(path, owner, now())
    } catch (error) {
      throw stateUnwritable(`create the lock ${path}`, error)
    }

    if ('release' in result) return result.release
    if (now().getTime() - started > waitMs) {
      throw new UpdraftError('STATE_FILE_UNWRITABLE', `Expected to lock ${path} within ${waitMs / 1000}s, got it held by pid ${result.holder.pid} since ${result.holder.since}.`)
    }

    await new Promise((resolve) => {
      setTimeout(resolve, 5 + Math.random() * 20)
    })
  }
}
