import {randomUUID} from 'node:crypto'
import {dirname, join} from 'node:path'

import type {Clock, TimerHandle, Timers} from '../clock.js'
import type {Dag, Task} from '../dag/model.js'
import type {BackfillListener} from '../events.js'
import type {BackfillPlan, PlannedRun} from '../planner/plan-backfill.js'
import {runLabel} from '../run/run-spec.js'
import {labelerFor} from '../schedule/resolve-dates.js'
import {
  type AttemptReason,
  blankTaskInstance,
  type DagRunRecord,
  type DagRunState,
  type DagState,
  DONE_STATES,
  FAILED_STATES,
  type StateChange,
  type TaskInstanceRecord,
  type TaskInstanceState,
} from '../state/schema.js'
import type {RunRange, StateStore} from '../state/store.js'
import {compileTemplate, type CompiledTemplate, runTemplateValues, type RunTemplateValues, taskTemplateContext, templateEnvironment} from '../template/render.js'
import {isUpdraftError, stateUnwritable, unreachable, type UpdraftError} from '../errors.js'
import type {Executor, TaskStateChange} from './executor.js'
import {appendLog} from './task-log.js'
import {type BackfillSummary, combinedState, summarise} from './backfill-summary.js'
import {type Readiness, readinessOf} from './readiness.js'
import {PoolGate, type PoolWait} from './pool-gate.js'

/** The abort reason of a backfill stopped by `backfills cancel`; any other reason is an interruption. */
export const CANCEL = 'cancel'

/** Everything the apply loop needs besides the plan; nothing here is read from the process. */
export interface ApplyOptions {
  /** Environment every bash task starts from (resolved by the CLI), before the UPDRAFT_* variables. */
  baseEnv: Record<string, string>
  clock: Clock
  /** `-c` JSON merged over the DAG's params. */
  conf: Record<string, unknown>
  disableRetry: boolean
  listener: BackfillListener
  /** Folder for per-try log files. */
  logsDir: string
  markSuccess: boolean
  maxActiveRuns: number
  /** A try's log could not be created: the state folder is failing, which stops the backfill (through `signal`). */
  onUnwritable: (error: UpdraftError) => void
  pid: number
  /** Newest dates first (`-B`): among equals waiting for a pool, the newest date starts first. */
  runBackwards: boolean
  signal: AbortSignal
  timers: Timers
}

/**
 * A run's progress. Its records are built when first needed (when the run starts, or a neighbour asks about it
 * for depends_on_past): built up front, a year of hourly runs is 87,600 blank task instances that outlive many
 * collections only to be replaced. A class, so that a year of runs shares one shape.
 */
class RunProgress {
  finished = false
  /** Task ids queued on the executor or waiting for a retry. */
  readonly inFlight = new Set<string>()
  /** Task ids ready but waiting for slots in their pool. */
  readonly waitingForSlots = new Set<string>()
  label = ''
  /** Where this run's task logs go, joined once. */
  logDir: string | undefined = undefined
  /** Task ids still to reach a final state in this backfill. */
  readonly pending: Set<string>
  /** Task ids the plan recovers from a process that is gone, until they are first queued. */
  readonly recovered: Set<string>
  started = false
  startedAt = 0
  templateValues: RunTemplateValues | undefined = undefined
  private built: DagRunRecord[] | undefined = undefined

  constructor(
    readonly planned: PlannedRun,
    private readonly initial: (planned: PlannedRun) => DagRunRecord[],
  ) {
    this.pending = new Set(planned.tasks)
    this.recovered = new Set((planned.records[0]?.actions ?? []).flatMap((action) => (action.action === 'recover' ? [action.task_id] : [])))
  }

  /** One record per planned record: the run's dates (or its key) each keep their own; the first leads. */
  get records(): DagRunRecord[] {
    return (this.built ??= this.initial(this.planned))
  }
}

/**
 * Runs a plan (whose runs lie in `range`): records it, then queues each ready task instance on the executor within the max_active_runs
 * window, records every state change, and only then emits the matching event, so the view never shows a state
 * that a crash could lose. Failures are outcomes (states and reasons), never exceptions. Every change is recorded
 * in the store when this returns; writing the file is left to the caller's close, so that the record of the
 * backfill's outcome goes into the same write.
 */
export async function applyPlan(dag: Dag, plan: BackfillPlan, range: null | RunRange, store: StateStore, executor: Executor, options: ApplyOptions): Promise<BackfillSummary> {
  const existing = await store.readRuns(dag.dagId, range)
  return new ApplyLoop(dag, plan, store, executor, options, existing).run()
}

/**
 * What a backfill did as far as `recorded` (read back from the store) knows: after a write failure, the summary
 * shows only what survives, not what the loop last held in memory.
 */
export function summariseRecorded(dag: Dag, plan: BackfillPlan, recorded: DagState, wallMs: number): BackfillSummary {
  const runs = plan.runs.map((planned) => {
    const unrecorded = initialRecords(planned, recorded, plan.selected_tasks, {})
    return {planned, records: planned.records.map((record, index) => recorded.runs[record.run_id] ?? (unrecorded[index] as DagRunRecord))}
  })
  return summarise(plan, runs, {interrupted: true, labelOf: labelerFor(dag), wallMs})
}

/**
 * The apply loop for one plan. Runs enter a sliding window of max_active_runs in plan order; within a run, task
 * instances are queued as they become ready. Every executor report goes through `handleChange`, and every
 * transition that can free work ends in `scheduleReady` for the runs it concerns.
 */
class ApplyLoop {
  private active = 0
  /** Running or queued tries per task across runs, for max_active_tis_per_dag. */
  private readonly activeOfTask = new Map<string, number>()
  /** Runs holding a ready task instance back for its task's max_active_tis_per_dag, per task. */
  private readonly heldForTaskCap = new Map<string, Set<RunProgress>>()
  private readonly gate: PoolGate
  /** Task instances waiting for slots, by key. */
  private readonly slotWaiters = new Map<string, {run: RunProgress; task: Task}>()
  private finishedRuns = 0
  private readonly inFlight = new Map<string, {run: RunProgress; taskId: string}>()
  private lastInstant = {iso: '', ms: Number.NaN}
  private readonly labelOf: (iso: string) => string
  private nextToStart = 0
  /** depends_on_past looks at the previous logical date of the same key, whatever the order -B runs them in. */
  private readonly previousRun = new Map<RunProgress, RunProgress | undefined>()
  private readonly nextRun = new Map<RunProgress, RunProgress | undefined>()
  private readonly params: Record<string, unknown>
  private readonly retryTimers = new Set<TimerHandle>()
  private readonly runs: RunProgress[]
  private readonly selected: ReadonlySet<string>
  private settle: () => void = () => {}
  private readonly startedAt: number
  private readonly tasks: Map<string, Task>
  private readonly templates = new Map<string, CompiledTemplate>()
  /**
   * Tries started by this backfill, per task instance of a task that has retries: retries count from here, as
   * Airflow's clear resets max_tries, so an instance re-run after failing in an earlier backfill gets its
   * retries again. An entry goes when its instance is final.
   */
  private readonly triesHere = new Map<string, number>()

  constructor(
    private readonly dag: Dag,
    private readonly plan: BackfillPlan,
    private readonly store: StateStore,
    private readonly executor: Executor,
    private readonly options: ApplyOptions,
    existing: DagState,
  ) {
    this.startedAt = options.clock().getTime()
    this.tasks = new Map(dag.tasks.map((task) => [task.taskId, task]))
    this.selected = new Set(plan.selected_tasks)
    this.params = {...dag.params, ...options.conf}
    this.labelOf = labelerFor(dag)
    const initial = (planned: PlannedRun) => initialRecords(planned, existing, plan.selected_tasks, options.conf)
    this.runs = plan.runs.map((planned) => new RunProgress(planned, initial))
    this.gate = new PoolGate({
      onError: (error) => options.onUnwritable(isUpdraftError(error) ? error : stateUnwritable('exchange pool slots', error)),
      onGranted: (key) => this.slotsGranted(key),
      onRejected: (key, message) => this.slotsRefused(key, message),
      onWaiting: (key, wait) => this.waitingForSlots(key, wait),
      ownerId: `${options.pid}:${dag.dagId}:${randomUUID()}`,
      pools: store.pools,
      timers: options.timers,
    })
    const chronological = [...this.runs].sort((a, b) => (a.planned.logical_date ?? '').localeCompare(b.planned.logical_date ?? ''))
    const lastOfKey = new Map<null | string, RunProgress>()
    for (const run of chronological) {
      const previous = lastOfKey.get(run.planned.partition_key)
      this.previousRun.set(run, previous)
      if (previous) this.nextRun.set(previous, run)
      lastOfKey.set(run.planned.partition_key, run)
    }
  }

  async run(): Promise<BackfillSummary> {
    const {dag, executor, options, plan} = this
    options.listener({
      dag_id: dag.dagId,
      excluded: plan.excluded,
      runs: plan.runs.map((run) => ({logical_date: run.logical_date, logical_dates: run.logical_dates, partition_key: run.partition_key, run_id: run.run_id, tasks: run.tasks})),
      timezone: dag.timezone,
      type: 'backfill_started',
    })
    const done = new Promise<void>((resolve) => {
      this.settle = resolve
    })
    const unsubscribe = executor.onStateChange((change) => this.handleChange(change))
    const onAbort = () => this.stop()
    if (options.signal.aborted) onAbort()
    else options.signal.addEventListener('abort', onAbort, {once: true})
    this.startRuns()
    this.settleIfIdle()
    await done
    await this.gate.close()
    if (!options.signal.aborted) await executor.shutdown('drain')
    options.signal.removeEventListener('abort', onAbort)
    unsubscribe()
    if (options.signal.aborted) this.requeueUnfinishedRuns()
    return summarise(plan, this.runs, {interrupted: options.signal.aborted, labelOf: this.labelOf, wallMs: options.clock().getTime() - this.startedAt})
  }

  /** Many state changes share a millisecond; formatting its instant once each saves a noticeable share of a long run. */
  private now(): string {
    const instant = this.options.clock()
    if (instant.getTime() !== this.lastInstant.ms) this.lastInstant = {iso: instant.toISOString(), ms: instant.getTime()}
    return this.lastInstant.iso
  }

  private track(key: string, entry: {run: RunProgress; taskId: string}): void {
    this.inFlight.set(key, entry)
    entry.run.inFlight.add(entry.taskId)
  }

  private untrack(key: string): void {
    const entry = this.inFlight.get(key)
    if (!entry) return
    this.inFlight.delete(key)
    entry.run.inFlight.delete(entry.taskId)
  }

  /** The state the run's task instance is in; every record of a batch holds the same. */
  private stateOf(run: RunProgress, taskId: string): TaskInstanceState {
    return lead(run).task_instances[taskId]?.state ?? 'none'
  }

  /**
   * Records a task instance of a run in each of its records: a batch's dates each get the batch's outcome, with
   * their own earlier tries kept in front of it, and the batch's run id.
   */
  private setTaskInstance(run: RunProgress, taskId: string, ti: TaskInstanceRecord, reason: AttemptReason | null = ti.reason): void {
    const {records} = run
    const batchRunId = records.length > 1 ? run.planned.run_id : null
    // Callers pass a fresh object; it is copied only to set the batch, so a plain run makes no extra garbage.
    const leading = ti.batch_run_id === batchRunId ? ti : {...ti, batch_run_id: batchRunId}
    const first = records[0] as DagRunRecord
    if (records.length === 1) {
      first.task_instances[taskId] = leading
      this.store.record([{dag_id: this.dag.dagId, run_id: first.run_id, task_id: taskId, ti: leading, type: 'task_instance'}])
    } else {
      const before = first.task_instances[taskId] ?? blankTaskInstance()
      const changes: StateChange[] = records.map((record, index) => {
        const own = index === 0 ? leading : alongside(leading, before, record.task_instances[taskId] ?? blankTaskInstance())
        record.task_instances[taskId] = own
        return {dag_id: this.dag.dagId, run_id: record.run_id, task_id: taskId, ti: own, type: 'task_instance'}
      })
      this.store.record(changes)
    }

    this.options.listener({
      duration_ms: ti.duration_ms,
      log_path: ti.log_path,
      logical_date: run.planned.logical_date,
      reason,
      run_id: run.planned.run_id,
      state: ti.state,
      task_id: taskId,
      try_number: ti.try_number,
      type: 'task_state',
    })
  }

  private finishAttempt(run: RunProgress, taskId: string, state: TaskInstanceState, reason: AttemptReason | null, exitCode: null | number = null): void {
    const ti = lead(run).task_instances[taskId] ?? blankTaskInstance()
    const end = this.now()
    const duration = ti.start_date ? new Date(end).getTime() - new Date(ti.start_date).getTime() : null
    // History keeps the attempts that did not settle the instance (a retry, an interruption); the last one is the instance itself.
    const superseded = state === 'up_for_retry' || state === 'none'
    const history = superseded ? [...ti.history, {end_date: end, exit_code: exitCode, log_path: ti.log_path, reason, start_date: ti.start_date, state, try_number: ti.try_number}] : ti.history
    this.setTaskInstance(run, taskId, {...ti, duration_ms: duration, end_date: end, exit_code: exitCode, history, pid: null, reason, state})
  }

  private maybeFinishRun(run: RunProgress): void {
    if (run.finished || !run.started || run.pending.size > 0) return
    run.finished = true
    this.finishedRuns++
    // The run's context is not needed any more; a year of hourly runs would otherwise keep every one.
    run.templateValues = undefined
    this.active--
    const end = lead(run).end_date ?? this.now()
    for (const [index, record] of run.records.entries()) {
      const state = runStateOf(record, this.plan.selected_tasks)
      const recordEnd = record.end_date ?? end
      if (record.state === state && record.end_date === recordEnd) continue
      run.records[index] = {...record, end_date: recordEnd, state}
      this.store.record([{dag_id: this.dag.dagId, end_date: recordEnd, run_id: record.run_id, start_date: record.start_date, state, type: 'run_state'}])
    }

    const {label, planned} = run
    const state = combinedState(run.records)
    this.options.listener({duration_ms: this.options.clock().getTime() - run.startedAt, label, logical_date: planned.logical_date, run_id: planned.run_id, state, type: 'run_finished'})
  }

  private settleIfIdle(): void {
    const {options} = this
    if (this.finishedRuns === this.runs.length || (options.signal.aborted && this.inFlight.size === 0)) return this.settle()
    if (this.inFlight.size > 0 || this.retryTimers.size > 0 || this.slotWaiters.size > 0 || options.signal.aborted) return
    // Nothing runs and nothing will: whatever still waits can never become ready, so it fails, naming what it waited on.
    for (const run of this.runs.filter((candidate) => candidate.started && !candidate.finished)) {
      for (const taskId of run.pending) {
        const readiness = this.readiness(run, this.tasks.get(taskId) as Task)
        this.finishAttempt(run, taskId, 'upstream_failed', readiness.kind === 'waiting' && readiness.on === 'upstream' ? 'upstream-failed' : 'depends-on-past')
      }

      run.pending.clear()
      this.maybeFinishRun(run)
    }

    this.startRuns()
    if (this.finishedRuns === this.runs.length) this.settle()
  }

  private readiness(run: RunProgress, task: Task): Readiness {
    const previous = task.dependsOnPast ? this.previousRun.get(run) : undefined
    const past = previous ? {finished: previous.finished, state: this.stateOf(previous, task.taskId)} : null
    return readinessOf(task, this.selected, lead(run).task_instances, past)
  }

  private keyOf(run: RunProgress, taskId: string): string {
    return `${run.planned.run_id}\u0000${taskId}`
  }

  private logPathOf(run: RunProgress, taskId: string, tryNumber: number): string {
    return `${(run.logDir ??= join(this.options.logsDir, this.dag.dagId, run.planned.run_id))}/${taskId}/attempt=${tryNumber}.log`
  }

  private queueTaskInstance(run: RunProgress, task: Task): void {
    const {dag, options} = this
    const ti = lead(run).task_instances[task.taskId] ?? blankTaskInstance()
    const tryNumber = ti.try_number + 1
    const logPath = this.logPathOf(run, task.taskId, tryNumber)
    // A callable writes its log only when it throws, so its log path is recorded then.
    const recordedLog = task.bashCommand === null ? null : logPath
    if (recordedLog !== null) {
      try {
        appendLog(recordedLog, '')
      } catch (error) {
        // Not a failure of the task: nothing ran, and the instance stays as it was for the backfill that resumes.
        options.onUnwritable(stateUnwritable(`create the task log ${recordedLog}`, error))
        this.slotsFreed(task, false)
        return
      }
    }

    this.setTaskInstance(run, task.taskId, {...ti, end_date: null, exit_code: null, log_path: recordedLog, pid: options.pid, reason: null, start_date: null, state: 'queued', try_number: tryNumber})
    run.templateValues ??= runTemplateValues({dagId: dag.dagId, params: this.params, run: run.planned, timezone: dag.timezone})
    const context = taskTemplateContext(run.templateValues, task.taskId, tryNumber)
    const key = this.keyOf(run, task.taskId)
    if (task.retries > 0) this.triesHere.set(key, (this.triesHere.get(key) ?? 0) + 1)
    this.track(key, {run, taskId: task.taskId})
    let command = ''
    if (task.bashCommand !== null) {
      try {
        let template = this.templates.get(task.taskId)
        if (!template) this.templates.set(task.taskId, (template = compileTemplate(task.bashCommand)))
        command = template.render(context)
      } catch (error) {
        const message = `template error: ${(error as Error).message}`
        appendLog(logPath, `${message}\n`)
        this.handleChange({at: options.clock(), exitCode: null, key, message, reason: 'exception', startedAt: null, state: 'failed'})
        return
      }
    }

    const adoptTry = run.recovered.delete(task.taskId) ? {logPath: this.logPathOf(run, task.taskId, ti.try_number), tryNumber: ti.try_number} : null
    this.executor.queue({
      adoptTry,
      attempt: {dag_id: dag.dagId, run_id: run.planned.run_id, task_id: task.taskId, try_number: tryNumber},
      cwd: dirname(dag.fileloc),
      // Only a child process reads an environment; callables get the context object itself.
      env: task.bashCommand === null ? {} : {...options.baseEnv, ...task.env, ...templateEnvironment(context)},
      key,
      logPath,
      timeoutMs: task.executionTimeoutMs,
      work: task.callable === null ? {command, kind: 'bash'} : {callable: task.callable, context, kind: 'callable'},
    })
  }

  private scheduleReady(run: RunProgress): void {
    if (!run.started || run.finished) return
    let blockedFuture = false
    // Topological order means one pass marks a whole failed branch upstream_failed.
    for (const task of this.dag.tasks) {
      if (!run.pending.has(task.taskId)) continue
      const state = this.stateOf(run, task.taskId)
      if (run.inFlight.has(task.taskId) || run.waitingForSlots.has(task.taskId) || (state !== 'none' && state !== 'scheduled')) continue
      const readiness = this.readiness(run, task)
      switch (readiness.kind) {
        case 'blocked': {
          this.finishAttempt(run, task.taskId, 'upstream_failed', readiness.reason)
          run.pending.delete(task.taskId)
          blockedFuture ||= task.dependsOnPast
          break
        }

        case 'ready': {
          if (!this.options.signal.aborted) this.admit(run, task)
          break
        }

        case 'waiting': {
          break
        }

        default: {
          unreachable(readiness)
        }
      }
    }

    this.maybeFinishRun(run)
    // The same task on the next date may be waiting for this one; it can only fail now, so tell it.
    const next = this.nextRun.get(run)
    if (blockedFuture && next) this.scheduleReady(next)
  }

  private startRuns(): void {
    const {options, store} = this
    while (!options.signal.aborted && this.active < options.maxActiveRuns && this.nextToStart < this.runs.length) {
      const run = this.runs[this.nextToStart++] as RunProgress
      run.started = true
      run.startedAt = options.clock().getTime()
      this.active++
      const {records} = run
      for (let index = 0; index < records.length; index++) {
        const record = records[index] as DagRunRecord
        // A date with nothing left to run keeps the times of the backfill that did the work.
        const starting = run.pending.size > 0 || record.start_date === null
        if (starting) records[index] = {...record, end_date: null, start_date: this.now(), state: 'running'}
        // A run is recorded when it enters the window, not up front: a year of hourly runs would otherwise be one
        // huge write before any work starts. Runs with nothing to do are left as recorded, so a backfill that finds
        // everything done writes nothing.
        if (starting || !run.planned.records[index]?.existing) store.record([{dag_id: this.dag.dagId, run: records[index] as DagRunRecord, type: 'run'}])
      }

      // Labelled when it starts rather than up front: a year of hourly dates would otherwise delay the first task.
      run.label = runLabel(run.planned, this.labelOf)
      options.listener({label: run.label, logical_date: run.planned.logical_date, run_id: run.planned.run_id, type: 'run_started'})
      if (options.markSuccess) {
        for (const taskId of run.planned.tasks) this.finishAttempt(run, taskId, 'success', 'marked-success')
        run.pending.clear()
      }

      this.scheduleReady(run)
    }
  }

  private afterFinalState(run: RunProgress, taskId: string): void {
    run.pending.delete(taskId)
    this.scheduleReady(run)
    const next = this.nextRun.get(run)
    if (next && this.tasks.get(taskId)?.dependsOnPast) this.scheduleReady(next)
    this.startRuns()
  }

  private handleChange(change: TaskStateChange): void {
    const entry = this.inFlight.get(change.key)
    if (!entry) return
    const {options} = this
    const {run, taskId} = entry
    const task = this.tasks.get(taskId) as Task
    const record = lead(run)
    if ((change.state === 'success' || change.state === 'failed') && change.startedAt) {
      // A try that ended as it started: its start is recorded with its end, in the same state change.
      record.task_instances[taskId] = {...(record.task_instances[taskId] ?? blankTaskInstance()), start_date: change.startedAt.toISOString()}
    }

    const ti = record.task_instances[taskId] ?? blankTaskInstance()
    switch (change.state) {
      case 'running': {
        this.gate.running(task.pool, task.poolSlots)
        this.setTaskInstance(run, taskId, {...ti, pid: change.pid ?? options.pid, start_date: change.at.toISOString(), state: 'running'})
        return
      }

      case 'adopted': {
        // The try left behind goes on (or ended) on a worker: it is that try, not a new one, so its attempt comes
        // back out of the history and keeps its number, start and log.
        const left = ti.history.at(-1)
        const history = left?.try_number === change.tryNumber ? ti.history.slice(0, -1) : ti.history
        this.setTaskInstance(run, taskId, {...ti, history, log_path: this.logPathOf(run, taskId, change.tryNumber), start_date: left?.start_date ?? null, try_number: change.tryNumber})
        return
      }

      case 'success': {
        this.untrack(change.key)
        this.slotsFreed(task, ti.state === 'running')
        this.triesHere.delete(change.key)
        this.finishAttempt(run, taskId, 'success', null, 0)
        this.afterFinalState(run, taskId)
        break
      }

      case 'failed': {
        this.untrack(change.key)
        this.slotsFreed(task, ti.state === 'running')
        if (ti.log_path === null && (change.reason === 'exception' || change.reason === 'timeout')) record.task_instances[taskId] = {...ti, log_path: this.logPathOf(run, taskId, ti.try_number)}
        const retriesLeft = !options.disableRetry && (this.triesHere.get(change.key) ?? 1) <= task.retries && !options.signal.aborted
        this.finishAttempt(run, taskId, retriesLeft ? 'up_for_retry' : 'failed', change.reason, change.exitCode)
        if (retriesLeft) {
          this.retryLater(run, task, change.key, entry)
        } else {
          this.triesHere.delete(change.key)
          this.afterFinalState(run, taskId)
        }
        break
      }

      case 'interrupted': {
        this.untrack(change.key)
        this.slotsFreed(task, ti.state === 'running')
        // An interruption is not a failure: the instance goes back to none so a plain re-run picks it up.
        this.finishAttempt(run, taskId, 'none', this.stopReason())
        break
      }

      case 'dropped': {
        this.untrack(change.key)
        this.slotsFreed(task, ti.state === 'running')
        if (task.retries > 0) this.triesHere.set(change.key, (this.triesHere.get(change.key) ?? 1) - 1)
        // The try never started, so it is not counted and leaves no attempt behind.
        this.setTaskInstance(run, taskId, {...ti, end_date: null, log_path: null, pid: null, reason: this.stopReason(), start_date: null, state: 'none', try_number: ti.try_number - 1})
        break
      }

      default: {
        unreachable(change)
      }
    }

    this.settleIfIdle()
  }

  private retryLater(run: RunProgress, task: Task, key: string, entry: {run: RunProgress; taskId: string}): void {
    const {timers} = this.options
    const timer = timers.setTimeout(() => {
      this.retryTimers.delete(timer)
      if (this.options.signal.aborted) return this.settleIfIdle()
      // The retry asks for slots again, as any ready task instance does; the caps of its task let it through, as
      // the try it repeats was let through.
      this.untrack(key)
      this.requestSlots(run, task)
    }, task.retryDelayMs)
    this.retryTimers.add(timer)
    this.track(key, entry)
  }

  /**
   * A ready task instance goes to its pool unless max_active_tasks (of its run) or max_active_tis_per_dag (of
   * its task) holds it back; then the run is looked at again when a try of either ends.
   */
  private admit(run: RunProgress, task: Task): void {
    const {maxActiveTasks} = this.dag
    if (maxActiveTasks !== null && run.inFlight.size + run.waitingForSlots.size >= maxActiveTasks) return
    const cap = task.maxActiveTisPerDag
    if (cap !== null && (this.activeOfTask.get(task.taskId) ?? 0) >= cap) {
      const held = this.heldForTaskCap.get(task.taskId) ?? new Set()
      this.heldForTaskCap.set(task.taskId, held.add(run))
      return
    }

    this.requestSlots(run, task)
  }

  private requestSlots(run: RunProgress, task: Task): void {
    const {taskId} = task
    const key = this.keyOf(run, taskId)
    if (task.maxActiveTisPerDag !== null) this.activeOfTask.set(taskId, (this.activeOfTask.get(taskId) ?? 0) + 1)
    // Most task instances find a slot this loop already holds: they start without a waiter's bookkeeping.
    if (this.gate.take(task.pool, task.poolSlots)) return this.queueTaskInstance(run, task)
    run.waitingForSlots.add(taskId)
    this.slotWaiters.set(key, {run, task})
    const {planned} = run
    this.gate.request({
      asked_at: this.options.clock().getTime(),
      key,
      logical_date: planned.logical_date,
      newest_first: this.options.runBackwards,
      pool: task.pool,
      priority: task.priorityWeight,
      scheduled: planned.records.every((record) => record.run_id.startsWith('scheduled__')),
      slots: task.poolSlots,
    })
  }

  private slotsGranted(key: string): void {
    const waiter = this.slotWaiters.get(key)
    if (!waiter) return
    this.slotWaiters.delete(key)
    waiter.run.waitingForSlots.delete(waiter.task.taskId)
    if (this.options.signal.aborted) return this.slotsFreed(waiter.task, false)
    this.queueTaskInstance(waiter.run, waiter.task)
  }

  /** The pool went away or shrank under a waiting task instance: it fails, with nothing run. */
  private slotsRefused(key: string, message: string): void {
    const waiter = this.slotWaiters.get(key)
    if (!waiter) return
    const {run, task} = waiter
    this.slotWaiters.delete(key)
    run.waitingForSlots.delete(task.taskId)
    this.untrack(key)
    this.triesHere.delete(key)
    this.capFreed(task)
    this.finishAttempt(run, task.taskId, 'failed', 'pool')
    this.options.listener({message, run_id: run.planned.run_id, task_id: task.taskId, type: 'task_refused'})
    this.afterFinalState(run, task.taskId)
    this.settleIfIdle()
  }

  private waitingForSlots(key: string, wait: PoolWait): void {
    const waiter = this.slotWaiters.get(key)
    if (!waiter) return
    this.options.listener({...wait, logical_date: waiter.run.planned.logical_date, run_id: waiter.run.planned.run_id, task_id: waiter.task.taskId, type: 'task_waiting'})
  }

  /** A try's slots are free again (`ran`: it had reported running), and so is its place under its task's cap. */
  private slotsFreed(task: Task, ran: boolean): void {
    this.gate.release(task.pool, task.poolSlots, ran)
    this.capFreed(task)
  }

  /** A place under max_active_tis_per_dag is free again: runs it held back look again. */
  private capFreed({maxActiveTisPerDag, taskId}: Task): void {
    if (maxActiveTisPerDag === null) return
    this.activeOfTask.set(taskId, Math.max(0, (this.activeOfTask.get(taskId) ?? 0) - 1))
    const held = this.heldForTaskCap.get(taskId)
    if (!held || held.size === 0) return
    this.heldForTaskCap.delete(taskId)
    for (const run of held) this.scheduleReady(run)
  }

  /** Ctrl-C or SIGTERM: no retry happens any more, and whatever the executor holds is killed or dropped. */
  private stop(): void {
    const {reason} = this.options.signal
    this.options.listener({signal: isUpdraftError(reason) ? reason.code : String(reason ?? 'abort'), type: 'interrupt_requested'})
    for (const timer of this.retryTimers) this.options.timers.clearTimeout(timer)
    for (const [key, {run, task}] of this.slotWaiters) {
      this.slotWaiters.delete(key)
      run.waitingForSlots.delete(task.taskId)
      this.gate.withdraw(key)
      this.capFreed(task)
      const ti = lead(run).task_instances[task.taskId]
      // A retry that was waiting for slots will not happen now either.
      if (ti?.state === 'up_for_retry') this.setTaskInstance(run, task.taskId, {...ti, pid: null, reason: this.stopReason(), state: 'none'})
    }

    for (const [key, entry] of this.inFlight) {
      const ti = lead(entry.run).task_instances[entry.taskId]
      if (ti?.state !== 'up_for_retry') continue
      this.untrack(key)
      // The failed try stays in the history; the retry that will not happen now leaves the instance to a re-run.
      this.setTaskInstance(entry.run, entry.taskId, {...ti, pid: null, reason: this.stopReason(), state: 'none'})
    }

    const settle = () => this.settleIfIdle()
    this.executor.shutdown('kill').then(settle, settle)
  }

  /** Why stopped instances go back to none: a cancel (`backfills cancel`) or an interruption (a signal). */
  private stopReason(): AttemptReason {
    return this.options.signal.reason === CANCEL ? 'cancelled' : 'interrupted'
  }

  private requeueUnfinishedRuns(): void {
    for (const run of this.runs.filter((candidate) => candidate.started && !candidate.finished)) {
      for (const [index, record] of run.records.entries()) {
        run.records[index] = {...record, state: 'queued'}
        this.store.record([{dag_id: this.dag.dagId, end_date: null, run_id: record.run_id, start_date: record.start_date, state: 'queued', type: 'run_state'}])
      }
    }
  }
}

/** The record a run's scheduling reads: its first; a batch's records all hold the same task instance states. */
function lead(run: RunProgress): DagRunRecord {
  return run.records[0] as DagRunRecord
}

/**
 * A task instance of another date of a batch, given the lead date's instance before (`before`) and after
 * (`leading`) a change: the same outcome, with the tries the change added appended to this date's own.
 */
function alongside(leading: TaskInstanceRecord, before: TaskInstanceRecord, own: TaskInstanceRecord): TaskInstanceRecord {
  const added = leading.history.slice(before.history.length)
  return {...leading, history: added.length > 0 ? [...own.history, ...added] : own.history, try_number: own.try_number + leading.try_number - before.try_number}
}

/**
 * The run records a backfill starts from, as the plan says: instances it clears or recovers move their last
 * attempt into the history (a recovered one, and one cleared while in progress, with reason `interrupted`) and
 * start afresh; every other instance is kept as recorded.
 */
function initialRecords(planned: PlannedRun, existing: DagState, selectedTasks: string[], conf: Record<string, unknown>): DagRunRecord[] {
  return planned.records.map((plannedRecord) => {
    const recorded = existing.runs[plannedRecord.run_id]
    const taskInstances: Record<string, TaskInstanceRecord> = {...recorded?.task_instances}
    for (const taskId of selectedTasks) taskInstances[taskId] ??= blankTaskInstance()
    for (const action of plannedRecord.actions) {
      if (action.action !== 'clear' && action.action !== 'recover') continue
      const ti = taskInstances[action.task_id] ?? blankTaskInstance()
      const cutShort = !DONE_STATES.has(ti.state) && !FAILED_STATES.has(ti.state)
      const attempt = {end_date: ti.end_date, exit_code: ti.exit_code, log_path: ti.log_path, reason: cutShort ? ('interrupted' as const) : ti.reason, start_date: ti.start_date, state: ti.state, try_number: ti.try_number}
      taskInstances[action.task_id] = {...blankTaskInstance(), history: [...ti.history, attempt], try_number: ti.try_number}
    }

    return {
      conf,
      data_interval_end: plannedRecord.data_interval_end,
      data_interval_start: plannedRecord.data_interval_start,
      end_date: recorded?.end_date ?? null,
      logical_date: plannedRecord.logical_date,
      partition_key: planned.partition_key,
      run_id: plannedRecord.run_id,
      start_date: recorded?.start_date ?? null,
      state: planned.tasks.length > 0 ? 'queued' : (recorded?.state ?? 'queued'),
      task_instances: taskInstances,
    }
  })
}

/**
 * A finished run's state covers all of its task instances: it succeeds when every selected one is done and no
 * other one has failed, so re-running one fixed task never hides failures of the tasks left out of `-t`.
 */
export function runStateOf(record: DagRunRecord, selectedTasks: readonly string[]): DagRunState {
  const selectedDone = selectedTasks.every((id) => DONE_STATES.has(record.task_instances[id]?.state ?? 'none'))
  return selectedDone && !Object.values(record.task_instances).some((ti) => FAILED_STATES.has(ti.state)) ? 'success' : 'failed'
}
