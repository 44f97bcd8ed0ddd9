import {isDeepStrictEqual} from 'node:util'

import type {Clock, Timers} from '../clock.js'
import {type Dag, DEFAULT_POOL} from '../dag/model.js'
import {UpdraftError} from '../errors.js'
import type {BackfillListener} from '../events.js'
import {applyPlan, CANCEL, PauseController, summariseRecorded} from '../executor/apply-plan.js'
import {allSucceeded, type BackfillSummary} from '../executor/backfill-summary.js'
import {BullmqExecutor} from '../executor/bullmq-executor.js'
import type {Executor} from '../executor/executor.js'
import {LocalExecutor} from '../executor/local-executor.js'
import {dagHashOf} from '../loader/dag-hash.js'
import {SpawnServer} from '../executor/spawn-server.js'
import {type BackfillPlan, type BackfillRequest, type ExistingRun, existingRunsOf, planBackfill, type PlannedRun, requestRange} from '../planner/plan-backfill.js'
import {runLabel} from '../run/run-spec.js'
import {labelerFor} from '../schedule/resolve-dates.js'
import type {ProcessInfo} from '../state/file-lock.js'
import {openStore} from '../state/open-store.js'
import {countsOf, progressOf} from '../state/backfills.js'
import type {BackfillRecord, BackfillState, DagState, StoredRequest} from '../state/schema.js'
import {claimKeyOf, type RunRange, type StateStore} from '../state/store.js'
import type {PoolStatus} from '../state/pools.js'

/** What a session needs from the process that starts it, resolved once by its caller. */
export interface SessionContext {
  /** The environment bash tasks start from. */
  baseEnv: Record<string, string>
  clock: Clock
  dbPath: string
  logsDir: string
  process: ProcessInfo
  timers: Timers
}

/** How a planned backfill runs: the settings that do not change what it plans. */
export interface RunSettings {
  /** `-c` JSON merged over the DAG's params. */
  conf: Record<string, unknown>
  /** Where tries run: in this process and its children, or as BullMQ jobs on `updraft worker` processes. */
  executor: {kind: 'bullmq'; queue: string; url: string} | {kind: 'local'}
  disableRetry: boolean
  markSuccess: boolean
  maxActiveRuns: number
  parallelism: number
}

/**
 * A backfill stopped because its state could not be written, as Ctrl-C would stop it. `summary` holds only what
 * was recorded before the failure.
 */
export class StateWriteStoppedBackfill extends UpdraftError {
  constructor(readonly outcome: BackfillSummary, cause: UpdraftError) {
    super(cause.code, cause.message, {suggestions: cause.suggestions})
  }
}

/** How often a running backfill looks for a cancel or pause request. */
const CANCEL_POLL_MS = 200

/**
 * One backfill from plan to summary: the plan made against a read-only view of the state (so every bad input
 * is refused before anything is written), then the DAG's lock, the store, its record (README "Backfills as records"), the executor and
 * the apply loop. The CLI, and anything else that starts or resumes backfills, drives this rather than wiring
 * those parts itself.
 */
export class BackfillSession {
  private forceStopRunning: () => void = () => {}
  /** The store this session writes through while a backfill runs; tasks start once what it recorded is durable. */
  private writingStore: null | StateStore = null

  private constructor(
    readonly dag: Dag,
    private readonly request: BackfillRequest,
    private readonly context: SessionContext,
    private readonly previewed: ExistingRun[],
    /** What the backfill will do, as planned before the lock was taken; `--dry-run` prints this. */
    readonly plan: BackfillPlan,
    /** The record this session continues (`backfills resume`), or null for a new backfill. */
    private readonly resumed: BackfillRecord | null,
    /** The pools the plan's tasks use, as they stood when it was planned; `--dry-run` says what would wait. */
    readonly pools: PoolUse[],
  ) {}

  /** Plans a backfill of `dag`; nothing is written. */
  static async plan(dag: Dag, request: BackfillRequest, context: SessionContext): Promise<BackfillSession> {
    const preview = await openPreview(context)
    const previewed = existingRunsOf(await preview.readRuns(dag.dagId, requestRange(dag, request, context.clock())))
    const plan = planBackfill(dag, request, context.clock(), previewed)
    return new BackfillSession(dag, request, context, previewed, plan, null, poolUseOf(dag, plan, await preview.pools.list()))
  }

  /**
   * Plans the request of a recorded backfill again, to run under the same record. What its `--reset-dagruns`
   * already cleared and ran is not cleared again: only the runs it had not started yet are.
   */
  static async resume(dag: Dag, record: BackfillRecord, context: SessionContext): Promise<BackfillSession> {
    const stored = requestOf(record.request)
    const state = await readDagState(dag.dagId, context, requestRange(dag, stored, context.clock()))
    const startedHere = record.run_ids.filter((runId) => {
      const run = state.runs[runId]
      return run?.start_date !== null && run?.start_date !== undefined && run.start_date >= record.created_at
    })
    const request = {...stored, resetDone: new Set(startedHere)}
    const previewed = existingRunsOf(state)
    const plan = planBackfill(dag, request, context.clock(), previewed)
    return new BackfillSession(dag, request, context, previewed, plan, record, poolUseOf(dag, plan, await (await openPreview(context)).pools.list()))
  }

  /**
   * Runs the plan under the DAG's lock and returns what happened. `signal` stops it the way Ctrl-C does; a
   * `backfills cancel` of its record stops it the same way, as cancelled. Events go to `listener` after the
   * state they describe was recorded.
   */
  async run(settings: RunSettings, watch: {listener: BackfillListener; notice: (text: string) => void; signal: AbortSignal}): Promise<BackfillSummary> {
    const {clock, dbPath, process} = this.context
    // Reached before anything is locked or written: an unreachable Redis leaves the state as it was.
    const executor = await this.executorFor(settings, watch.notice)
    let release: () => Promise<void>
    try {
      release = await this.claimRuns(await openStore(dbPath, {clock, process, writer: null}))
    } catch (error) {
      await executor.shutdown('drain')
      throw error
    }

    this.forceStopRunning = () => {
      release().catch(() => {})
    }
    try {
      const writeFailed = new AbortController()
      const store = await openStore(dbPath, {clock, onFailure: (error) => writeFailed.abort(error), process, writer: this.dag.dagId})
      this.writingStore = store
      const startedAt = clock().getTime()
      try {
        const existing = existingRunsOf(await store.readRuns(this.dag.dagId, this.range))
        // Planned again only if another process changed the DAG's runs before the lock was taken.
        const plan = isDeepStrictEqual(existing, this.previewed) ? this.plan : planBackfill(this.dag, this.request, clock(), existing)
        // The scheduler's runs on the DAG's schedule are runs, not backfills: they get no record (README "Running the scheduler").
        const record = this.request.runType === 'scheduled' ? null : await this.openRecord(store, plan, settings)
        const pause = new PauseController()
        const cancel = record && watchForRequests(store, record, pause)
        this.forceStopRunning = () => {
          executor.killNow()
          store.writeJournal()
          release().catch(() => {})
        }

        try {
          const summary = await applyPlan(this.dag, plan, this.range, store, executor, {
            baseEnv: this.context.baseEnv,
            clock,
            conf: settings.conf,
            disableRetry: settings.disableRetry,
            // Nothing is shown before it is in the journal: a state the view showed survives a crash.
            listener: (event) => (event.type === 'interrupt_requested' ? watch.listener(event) : store.whenDurable(() => watch.listener(event))),
            logsDir: this.context.logsDir,
            markSuccess: settings.markSuccess,
            maxActiveRuns: settings.maxActiveRuns,
            onUnwritable: (error) => writeFailed.abort(error),
            timers: this.context.timers,
            pause,
            pid: process.pid,
            runBackwards: this.request.runBackwards,
            signal: AbortSignal.any([watch.signal, writeFailed.signal, ...(cancel ? [cancel.signal] : [])]),
          })
          const writeFailure = writeFailed.signal.aborted ? (writeFailed.signal.reason as UpdraftError) : null
          const outcome = {...summary, backfill_id: record?.id ?? null, cancelled_by: writeFailure ? null : (cancel?.by() ?? null)}
          cancel?.dispose()
          const state: BackfillState = outcome.cancelled_by ? 'cancelled' : outcome.interrupted ? 'interrupted' : allSucceeded(outcome) ? 'success' : 'failed'
          // Recorded as far as the store still can: a failing task log leaves the journal working.
          if (record) await this.closeRecord(store, cancel?.record() ?? record, state, plan)
          if (writeFailure) {
            await store.close().catch(() => {})
            throw await this.stoppedByWriteFailure(plan, writeFailure, record, clock().getTime() - startedAt)
          }

          return outcome
        } finally {
          cancel?.dispose()
        }
      } finally {
        this.writingStore = null
        // After a write failure the failure is what the user hears about, not its echo from the last flush.
        await store.close().catch((error: unknown) => {
          if (!writeFailed.signal.aborted) throw error
        })
      }
    } finally {
      await release()
    }
  }

  /**
   * The summary of what survived a write failure, read back the way the next command will read it; just the
   * failure when even reading fails.
   */
  private async stoppedByWriteFailure(plan: BackfillPlan, cause: UpdraftError, record: BackfillRecord | null, wallMs: number): Promise<UpdraftError> {
    let recorded: DagState
    try {
      recorded = await readDagState(this.dag.dagId, this.context, this.range)
    } catch {
      return cause
    }

    const summary = summariseRecorded(this.dag, plan, recorded, wallMs)
    return new StateWriteStoppedBackfill({...summary, backfill_id: record?.id ?? null, cancelled_by: null}, cause)
  }

  /**
   * Owns the runs the plan covers for as long as the backfill runs (README "Where state lives"): another backfill of the same DAG runs
   * beside it over other runs, and one that overlaps is refused, naming the first run it would share.
   */
  private async claimRuns(store: StateStore): Promise<() => Promise<void>> {
    const runs = this.plan.runs.flatMap((planned) => planned.records.map((record) => ({key: claimKeyOf({logical_date: record.logical_date, partition_key: planned.partition_key}), run_id: record.run_id})))
    const claimed = await store.claimRuns(this.dag.dagId, runs)
    if ('release' in claimed) return claimed.release
    const planned = this.plan.runs.find((run) => run.records.some((record) => record.run_id === claimed.run.run_id)) as PlannedRun
    const label = runLabel(planned, labelerFor(this.dag))
    throw new UpdraftError(
      'BACKFILL_LOCKED',
      `Expected the runs of ${this.dag.dagId} this backfill covers to be free, got ${label} (${claimed.run.run_id}) owned by a backfill running as pid ${claimed.owner.pid} since ${claimed.owner.since}.`,
      {suggestions: [`Wait for pid ${claimed.owner.pid} to finish, or choose dates it does not cover; runs owned by a dead process are taken over automatically.`]},
    )
  }

  /**
   * Records the planned backfill as a request (README "Requests and the scheduler"): `queued`, owned by no process, for `updraft scheduler` (or
   * `--wait`) to take and run as `backfills resume` would.
   */
  async queue(settings: Pick<RunSettings, 'conf' | 'disableRetry' | 'markSuccess' | 'maxActiveRuns'>): Promise<BackfillRecord> {
    const {clock, dbPath, process} = this.context
    const store = await openStore(dbPath, {clock, process, writer: this.dag.dagId})
    try {
      return await store.createBackfill((id) => ({
        counts: {},
        created_at: clock().toISOString(),
        dag_id: this.dag.dagId,
        finished_at: null,
        history: [],
        host: '',
        id,
        origin: 'request',
        pid: 0,
        request: storedRequestOf(this.request, settings),
        run_ids: this.plan.runs.flatMap((run) => run.records.map((record) => record.run_id)),
        state: 'queued',
      }))
    } finally {
      await store.close()
    }
  }

  /** For a second Ctrl-C: kills every running process group at once and gives the lock back, without waiting. */
  forceStop(): void {
    this.forceStopRunning()
  }

  private async executorFor(settings: RunSettings, notice: (text: string) => void): Promise<Executor> {
    const {baseEnv, clock} = this.context
    if (settings.executor.kind === 'local') {
      // Tasks start only once the state that made them ready is durable (a PostgreSQL commit can take a while).
      const whenDurable = (send: () => void) => (this.writingStore ? this.writingStore.whenDurable(send) : send())
      return new LocalExecutor({clock, parallelism: settings.parallelism, spawner: new SpawnServer(baseEnv, settings.parallelism, {whenDurable})})
    }

    return BullmqExecutor.open({baseEnv, clock, dagHash: dagHashOf(this.dag.fileloc), onNotice: notice, prefix: settings.executor.queue, url: settings.executor.url})
  }

  /** Creates the backfill's record, or returns a resumed one to `running` with a new entry in its history. */
  private async openRecord(store: StateStore, plan: BackfillPlan, settings: RunSettings): Promise<BackfillRecord> {
    const {clock, process} = this.context
    const now = clock().toISOString()
    const runIds = plan.runs.flatMap((run) => run.records.map((record) => record.run_id))
    const attempt = {finished_at: null, host: process.host, pid: process.pid, started_at: now, state: 'running' as const}
    if (this.resumed) {
      const known = new Set(this.resumed.run_ids)
      const record: BackfillRecord = {
        ...this.resumed,
        finished_at: null,
        history: [...this.resumed.history, attempt],
        host: process.host,
        pid: process.pid,
        run_ids: [...this.resumed.run_ids, ...runIds.filter((runId) => !known.has(runId))],
        state: 'running',
      }
      store.record([{backfill: record, dag_id: record.dag_id, type: 'backfill'}])
      return record
    }

    return store.createBackfill((id) => ({
      counts: {},
      created_at: now,
      dag_id: this.dag.dagId,
      finished_at: null,
      history: [attempt],
      host: process.host,
      id,
      pid: process.pid,
      request: storedRequestOf(this.request, settings),
      run_ids: runIds,
      state: 'running',
    }))
  }

  private async closeRecord(store: StateStore, record: BackfillRecord, state: BackfillState, plan: BackfillPlan): Promise<void> {
    const now = this.context.clock().toISOString()
    const history = record.history.map((attempt, index) => (index === record.history.length - 1 ? {...attempt, finished_at: now, state} : attempt))
    // A resumed record also covers runs of earlier goes, outside this plan's dates.
    const runs = await store.readRuns(this.dag.dagId, this.resumed ? null : this.range)
    const counts = countsOf(record.run_ids, runs, plan.selected_tasks)
    const closed = {...record, counts, finished_at: now, history, state}
    store.record([{backfill: {...closed, runs_done: progressOf(closed, runs).done}, dag_id: record.dag_id, type: 'backfill'}])
  }

  /** The logical dates the plan covers: the runs this backfill reads and writes. */
  private get range(): null | RunRange {
    const dates = this.plan.runs.flatMap((run) => run.records.flatMap((record) => (record.logical_date === null ? [] : [record.logical_date]))).sort()
    return dates.length === 0 ? null : {from: dates[0] as string, to: dates.at(-1) as string}
  }
}

function openPreview(context: SessionContext): Promise<StateStore> {
  return openStore(context.dbPath, {clock: context.clock, process: context.process, writer: null})
}

async function readDagState(dagId: string, context: SessionContext, range: null | RunRange): Promise<DagState> {
  return (await openPreview(context)).readRuns(dagId, range)
}

/**
 * The pools a plan's tasks use that are worth a word: any but `default_pool`, and that one once something holds
 * its slots. A DAG that names no pool reads as it did before pools (its `--json` document is unchanged).
 */
export function worthSaying(pools: readonly PoolUse[]): PoolUse[] {
  return pools.filter((use) => use.pool !== DEFAULT_POOL || use.used > 0)
}

/** A pool the plan's tasks use: its size, the slots held in it now, and those tasks. */
export interface PoolUse {
  pool: string
  slots: number
  tasks: string[]
  used: number
}

/**
 * The pools the plan needs, refusing before anything runs a pool that does not exist (UNKNOWN_POOL) or a task
 * that needs more slots than its pool has (POOL_TOO_SMALL): either would wait forever.
 */
function poolUseOf(dag: Dag, plan: BackfillPlan, pools: readonly PoolStatus[]): PoolUse[] {
  const planned = new Set<string>()
  for (const run of plan.runs) {
    for (const taskId of run.tasks) planned.add(taskId)
    // A year of hourly runs names the same tasks 8,760 times; once all are seen, the rest adds nothing.
    if (planned.size === dag.tasks.length) break
  }

  const byName = new Map(pools.map((pool) => [pool.name, pool]))
  const uses = new Map<string, PoolUse>()
  for (const task of dag.tasks.filter((candidate) => planned.has(candidate.taskId))) {
    const pool = byName.get(task.pool)
    if (!pool) {
      throw new UpdraftError('UNKNOWN_POOL', `Expected task ${task.taskId} of ${dag.dagId} to name an existing pool (${[...byName.keys()].join(', ')}), got ${task.pool}; nothing was run.`, {
        suggestions: [`Create it first: updraft pools set ${task.pool} SLOTS`],
      })
    }

    if (task.poolSlots > pool.slots) {
      throw new UpdraftError('POOL_TOO_SMALL', `Expected task ${task.taskId} of ${dag.dagId} to need at most the ${pool.slots} slot(s) of pool ${pool.name}, got pool_slots ${task.poolSlots}; nothing was run.`, {
        suggestions: [`Enlarge the pool: updraft pools set ${pool.name} ${task.poolSlots}`],
      })
    }

    const use = uses.get(pool.name) ?? {pool: pool.name, slots: pool.slots, tasks: [], used: pool.slots - pool.open}
    uses.set(pool.name, {...use, tasks: [...use.tasks, task.taskId]})
  }

  return [...uses.values()]
}

/**
 * Polls the store for requests about a running backfill: a cancel aborts its signal with reason CANCEL; a pause
 * or unpause sets `pause` and records the state it gives the record (`paused`, `running`).
 */
function watchForRequests(store: StateStore, record: BackfillRecord, pause: PauseController): {by: () => null | string; dispose: () => void; record: () => BackfillRecord; signal: AbortSignal} {
  const controller = new AbortController()
  let by: null | string = null
  let current = record
  let disposed = false
  const look = async () => {
    const [asked, paused] = await Promise.all([store.cancelRequestOf(record.id), store.pauseRequested(record.id)])
    if (disposed || controller.signal.aborted) return
    if (asked !== null) {
      by = asked
      controller.abort(CANCEL)
      return
    }

    if (paused === pause.paused) return
    current = {...current, state: paused ? 'paused' : 'running'}
    store.record([{backfill: current, dag_id: current.dag_id, type: 'backfill'}])
    pause.set(paused)
  }

  const timer = setInterval(() => {
    look().catch(() => {
      // An unreadable request is looked for again at the next poll.
    })
  }, CANCEL_POLL_MS)
  timer.unref()
  return {
    by: () => by,
    dispose() {
      if (disposed) return
      disposed = true
      clearInterval(timer)
      store.cancelRequestOf(record.id, {clear: true}).catch(() => {})
      store.requestPause(record.id, false).catch(() => {})
    },
    record: () => current,
    signal: controller.signal,
  }
}

/** The request as plain data; a boolean flag left out arrives as undefined from the parser, and is stored false. */
function storedRequestOf(request: BackfillRequest, settings: Pick<RunSettings, 'conf' | 'disableRetry' | 'markSuccess' | 'maxActiveRuns'>): StoredRequest {
  return {
    batch_size: request.batchSize,
    conf: settings.conf,
    dates: request.dates,
    disable_retry: settings.disableRetry === true,
    ignore_dependencies: request.ignoreDependencies === true,
    keys: request.keys,
    mark_success: settings.markSuccess === true,
    max_active_runs: settings.maxActiveRuns,
    rerun_failed_tasks: request.rerunFailedTasks === true,
    reset_dagruns: request.resetDagRuns === true,
    run_backwards: request.runBackwards === true,
    tags: request.tags ?? {},
    task_regex: request.taskRegex && {flags: request.taskRegex.flags, source: request.taskRegex.source},
  }
}

/** The request a record was started with, as the planner takes it. */
export function requestOf(stored: StoredRequest): BackfillRequest {
  return {
    batchSize: stored.batch_size,
    dates: stored.dates,
    ignoreDependencies: stored.ignore_dependencies,
    keys: stored.keys,
    rerunFailedTasks: stored.rerun_failed_tasks,
    resetDagRuns: stored.reset_dagruns,
    runBackwards: stored.run_backwards,
    tags: stored.tags ?? {},
    taskRegex: stored.task_regex && new RegExp(stored.task_regex.source, stored.task_regex.flags),
  }
}

/** The settings a record was started with; where and how widely it runs are the resuming machine's. */
export function settingsOf(stored: StoredRequest, machine: Pick<RunSettings, 'executor' | 'parallelism'>): RunSettings {
  return {...machine, conf: stored.conf, disableRetry: stored.disable_retry, markSuccess: stored.mark_success, maxActiveRuns: stored.max_active_runs}
}

/**
 * Takes request `backfillId` for this process, unless another took it first (then null): the one atomic step
 * that keeps two schedulers from launching one request. A queued request is free; so is one whose process died
 * (`deadPid`, as the caller found it gone), which is carried on.
 */
export async function takeRequest(store: StateStore, backfillId: number, taker: ProcessInfo, deadPid = 0): Promise<BackfillRecord | null> {
  return store.updateBackfill(backfillId, (record) => {
    const orphaned = deadPid !== 0 && record.origin === 'request' && record.pid === deadPid && ['interrupted', 'paused', 'running'].includes(record.state)
    return record.state === 'queued' || orphaned ? {...record, host: taker.host, pid: taker.pid, state: 'running'} : null
  })
}

/** A queued request's owner fields: nobody. */
export const UNTAKEN = {host: '', pid: 0, state: 'queued'} as const satisfies Pick<BackfillRecord, 'host' | 'pid' | 'state'>

/**
 * Gives a taken request back as it was before (`previous`), unless a session has opened it since: its runs
 * were not free yet, and a later pass (or another scheduler) tries again.
 */
export async function giveBackRequest(store: StateStore, taken: BackfillRecord, previous: Pick<BackfillRecord, 'host' | 'pid' | 'state'>): Promise<void> {
  await store.updateBackfill(taken.id, (record) => (record.pid === taken.pid && record.history.length === taken.history.length ? {...record, ...previous} : null))
}

/** Whether a record is a request no process has run yet (queued, or paused while queued). */
export function isUnlaunchedRequest(record: Pick<BackfillRecord, 'history' | 'state'>): boolean {
  return record.history.length === 0 && (record.state === 'queued' || record.state === 'paused')
}

/** Refuses what cannot be resumed: a backfill still running (as its record reads now). */
export function assertResumable(record: BackfillRecord): void {
  if (isUnlaunchedRequest(record)) {
    throw new UpdraftError('BACKFILL_NOT_STARTED', `Expected a backfill that has run to resume, got request ${record.id} of ${record.dag_id} ${record.state}, which no process has taken yet.`, {
      suggestions: [record.state === 'paused' ? `updraft backfills unpause ${record.id}` : 'updraft scheduler --once'],
    })
  }

  if (record.state === 'running' || record.state === 'paused') {
    throw new UpdraftError('BACKFILL_RUNNING', `Expected backfill ${record.id} to have stopped before resuming it, got it ${record.state} as pid ${record.pid} on ${record.host}.`)
  }
}
