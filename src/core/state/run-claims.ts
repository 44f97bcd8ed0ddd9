import {existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {basename, dirname, join} from 'node:path'

import {UpdraftError} from '../errors.js'
import {type ProcessInfo, tryLock} from './file-lock.js'

/** A run as ownership sees it: a date (or partition) of a DAG, whatever type of run records it. */
export interface ClaimedRun {
  /** The logical date and partition key: a scheduled and a backfill run of one date are the same run here. */
  key: string
  run_id: string
}

/** What a live process owns of a DAG: written when its backfill starts, removed when it ends. */
export interface RunClaim {
  pid: number
  runs: readonly ClaimedRun[]
  since: string
}

/** The key ownership compares: two runs of one date and partition are one run, whichever type recorded them. */
export function claimKeyOf(run: {logical_date: null | string; partition_key: null | string}): string {
  return `${run.logical_date ?? ''}\u0000${run.partition_key ?? ''}`
}

const MUTEX_WAIT_MS = 10_000
/** One process can own several disjoint sets of runs of a DAG at once (the scheduler, `backfill()` in a script). */
let claimsMade = 0

/**
 * Claims `runs` of `dagId` for `owner`, unless a live process owns one of them: then that run and its owner are
 * returned, and nothing is claimed. Claims of dead processes are removed on the way, so their runs are taken
 * over. Claims are compared and written under a short per-DAG mutex, so two claimants of one run cannot both win.
 */
export async function claimRuns(dbPath: string, dagId: string, runs: readonly ClaimedRun[], owner: ProcessInfo, now: () => Date): Promise<{owner: RunClaim; run: ClaimedRun} | {release: () => void}> {
  try {
    mkdirSync(dirname(dbPath), {recursive: true})
  } catch (error) {
    throw new UpdraftError('STATE_FILE_UNWRITABLE', `Expected a writable state directory ${dirname(dbPath)}, got ${(error as NodeJS.ErrnoException).code ?? 'an error'}: ${(error as Error).message}`, {
      suggestions: ['Pass --db or set UPDRAFT_DB to a writable location.'],
    })
  }

  const releaseMutex = await acquireMutex(`${prefixOf(dbPath, dagId)}claims.lock`, owner, now)
  try {
    for (const {path, pid} of claimFilesOf(dbPath, dagId)) if (!owner.isAlive(pid)) rmSync(path, {force: true})
    const wanted = new Map(runs.map((run) => [run.key, run]))
    for (const claim of liveClaimsOf(dbPath, dagId, owner)) {
      const taken = claim.runs.find((run) => wanted.has(run.key))
      if (taken) return {owner: claim, run: wanted.get(taken.key) as ClaimedRun}
    }

    const path = `${prefixOf(dbPath, dagId)}claim-${owner.pid}-${++claimsMade}`
    const temporary = `${path}.tmp`
    writeFileSync(temporary, JSON.stringify({pid: owner.pid, runs, since: now().toISOString()} satisfies RunClaim))
    renameSync(temporary, path)
    return {
      release() {
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
export function liveClaimsOf(dbPath: string, dagId: string, owner: ProcessInfo): RunClaim[] {
  const claims: RunClaim[] = []
  for (const {path, pid} of claimFilesOf(dbPath, dagId)) {
    if (!owner.isAlive(pid)) continue
    try {
      claims.push(JSON.parse(readFileSync(path, 'utf8')) as RunClaim)
    } catch {
      // Removed by its owner between the listing and the read: it owns nothing any more.
    }
  }

  return claims
}

function claimFilesOf(dbPath: string, dagId: string): Array<{path: string; pid: number}> {
  const directory = dirname(dbPath)
  if (!existsSync(directory)) return []
  const pattern = new RegExp(`^${escapeRegExp(basename(prefixOf(dbPath, dagId)))}claim-(\\d+)-\\d+$`)
  return readdirSync(directory).flatMap((name) => {
    const pid = pattern.exec(name)?.[1]
    return pid === undefined ? [] : [{path: join(directory, name), pid: Number(pid)}]
  })
}

/** The live process that owns the run `runId` of `dagId`, if any. */
export function ownerOfRun(dbPath: string, dagId: string, runId: string, owner: ProcessInfo): null | RunClaim {
  return liveClaimsOf(dbPath, dagId, owner).find((claim) => claim.runs.some((run) => run.run_id === runId)) ?? null
}

async function acquireMutex(path: string, owner: ProcessInfo, now: () => Date): Promise<() => void> {
  const started = now().getTime()
  for (;;) {
    const result = tryLock(path, owner, now())
    if ('release' in result) return result.release
    if (now().getTime() - started > MUTEX_WAIT_MS) {
      throw new UpdraftError('STATE_FILE_UNWRITABLE', `Expected to lock ${path} within ${MUTEX_WAIT_MS / 1000}s, got it held by pid ${result.holder.pid} since ${result.holder.since}.`)
    }

    await new Promise((resolve) => {
      setTimeout(resolve, 5 + Math.random() * 20)
    })
  }
}

function prefixOf(dbPath: string, dagId: string): string {
  return `${dbPath}.${encodeURIComponent(dagId)}.`
}

function escapeRegExp(text: string): string {
  return text.replaceAll(/[.*+?^${}()|[\]\\]/g, String.raw`\$&`)
}
