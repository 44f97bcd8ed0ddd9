import {isDeepStrictEqual} from 'node:util'

import type {Clock} from '../clock.js'
import type {Dag} from '../dag/model.js'
import type {BackfillListener} from '../events.js'
import {applyPlan} from '../executor/apply-plan.js'
import type {BackfillSummary} from '../executor/backfill-summary.js'
import {LocalExecutor} from '../executor/local-executor.js'
import {SpawnServer} from '../executor/spawn-server.js'
import {type BackfillPlan, type BackfillRequest, type ExistingRun, existingRunsOf, planBackfill} from '../planner/plan-backfill.js'
import {acquireDagLock} from '../state/dag-lock.js'
import type {ProcessInfo} from '../state/file-lock.js'
import {JsonFileStore} from '../state/json-file-store.js'

/** What a session needs from the process that starts it, resolved once by its caller. */
export interface SessionContext {
  /** The environment bash tasks start from. */
  baseEnv: Record<string, string>
  clock: Clock
  dbPath: string
  logsDir: string
  process: ProcessInfo
}

/** How a planned backfill runs: the settings that do not change what it plans. */
export interface RunSettings {
  /** `-c` JSON merged over the DAG's params. */
  conf: Record<string, unknown>
  disableRetry: boolean
  markSuccess: boolean
  maxActiveRuns: number
  parallelism: number
}

/**
 * One backfill from plan to summary: the plan made against a read-only view of the state (so every bad input
 * is refused before anything is written), then the DAG's lock, the store, the executor and the apply loop. The
 * CLI, and anything else that starts backfills, drives this rather than wiring those parts itself.
 */
export class BackfillSession {
  private forceStopRunning: () => void = () => {}

  private constructor(
    readonly dag: Dag,
    private readonly request: BackfillRequest,
    private readonly context: SessionContext,
    private readonly previewed: ExistingRun[],
    /** What the backfill will do, as planned before the lock was taken; `--dry-run` prints this. */
    readonly plan: BackfillPlan,
  ) {}

  /** Plans a backfill of `dag`; nothing is written. */
  static async plan(dag: Dag, request: BackfillRequest, context: SessionContext): Promise<BackfillSession> {
    const preview = await JsonFileStore.open({clock: context.clock, ownDagId: null, path: context.dbPath, process: context.process})
    const previewed = existingRunsOf(await preview.readDag(dag.dagId))
    return new BackfillSession(dag, request, context, previewed, planBackfill(dag, request, context.clock(), previewed))
  }

  /**
   * Runs the plan under the DAG's lock and returns what happened. `signal` stops it the way Ctrl-C does; events
   * go to `listener` after the state they describe was recorded.
   */
  async run(settings: RunSettings, watch: {listener: BackfillListener; signal: AbortSignal}): Promise<BackfillSummary> {
    const {clock, dbPath, process} = this.context
    const release = acquireDagLock(dbPath, this.dag.dagId, process, clock())
    this.forceStopRunning = release
    try {
      const store = await JsonFileStore.open({clock, ownDagId: this.dag.dagId, path: dbPath, process})
      try {
        const existing = existingRunsOf(await store.readDag(this.dag.dagId))
        // Planned again only if another process changed the DAG's runs before the lock was taken.
        const plan = isDeepStrictEqual(existing, this.previewed) ? this.plan : planBackfill(this.dag, this.request, clock(), existing)
        const executor = new LocalExecutor({clock, parallelism: settings.parallelism, spawner: new SpawnServer(this.context.baseEnv, settings.parallelism)})
        this.forceStopRunning = () => {
          executor.killNow()
          store.writeJournal()
          release()
        }

        return await applyPlan(this.dag, plan, store, executor, {
          baseEnv: this.context.baseEnv,
          clock,
          conf: settings.conf,
          disableRetry: settings.disableRetry,
          listener: watch.listener,
          logsDir: this.context.logsDir,
          markSuccess: settings.markSuccess,
          maxActiveRuns: settings.maxActiveRuns,
          pid: process.pid,
          signal: watch.signal,
        })
      } finally {
        await store.close()
      }
    } finally {
      release()
    }
  }

  /** For a second Ctrl-C: kills every running process group at once and gives the lock back, without waiting. */
  forceStop(): void {
    this.forceStopRunning()
  }
}
