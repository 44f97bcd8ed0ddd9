import {randomUUID} from 'node:crypto'
import {dirname, join} from 'node:path'

import type {Clock, TimerHandle, Timers} from '../clock.js'
import type {Dag, Task} from '../dag/model.js'
import type {BackfillListener} from '../events.js'
import type {BackfillPlan, PlannedRun} from '../planner/plan-backfill.js'
import {runLabel} from '../run/run-spec.js'
import {labelerFor} from '../schedule/resolve-dates.js'
import {type AttemptReason, blankTaskInstance, type DagRunRecord, type DagState} from '../state/schema.js'
import type {RunRange, StateStore} from '../state/store.js'
import {compileTemplate, type CompiledTemplate, runTemplateValues, taskTemplateContext, templateEnvironment} from '../template/render.js'
import {isUpdraftError, stateUnwritable, unreachable, type UpdraftError} from '../errors.js'
import type {Executor, TaskStateChange} from './executor.js'
import {appendLog} from './task-log.js'
import {type BackfillSummary, combinedState, isLeftFailed, summarise} from './backfill-summary.js'
import {type Readiness, readinessOf} from './readiness.js'
import {Admission} from './admission.js'
import {initialRecords, lead, RunProgress, RunRecorder, taskInstanceKey} from './run-records.js'

/** Whether a backfill is paused, and news of each change; unlike an abort, it can end. */
export interface PauseSignal {
  readonly paused: boolean
  onChange(listener: () => void): () => void
}

/** A pause that its owner sets; `backfills pause` and `unpause` reach it through the store. */
export class PauseController implements PauseSignal {
  private readonly listeners = new Set<() => void>()
  private state = false

  get paused(): boolean {
    return this.state
  }

  set(paused: boolean): void {
    if (paused === this.state) return
    this.state = paused
    for (const listener of this.listeners) listener()
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
}

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
  /** While paused (README "Requests and the scheduler") no task instance starts and no run enters the window; running ones finish. */
  pause: PauseSignal
  /** A try's log could not be created: the state folder is failing, which stops the backfill (through `signal`). */
  onUnwritable: (error: UpdraftError) => void
  pid: number
  /** Newest dates first (`-B`): among equals waiting for a pool, the newest date starts first. */
  runBackwards: boolean
  signal: AbortSignal
  timers: Timers
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
  private readonly admission: Admission
  private finishedRuns = 0
  private readonly inFlight = new Map<string, {run: RunProgress; taskId: string}>()
  private readonly labelOf: (iso: string) => string
  private nextToStart = 0
  private readonly params: Record<string, unknown>
  private readonly retryTimers = new Set<TimerHandle>()
  /** Retries that came due while paused: they ask for slots once unpaused. */
  private readonly pausedRetries: Array<{key: string; run: RunProgress; task: Task}> = []
  private readonly recorder: RunRecorder
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
    this.recorder = new RunRecorder(dag.dagId, store, options.listener, options.clock, plan.selected_tasks)
    this.admission = new Admission(
      dag,
      store.pools,
      {
        clock: options.clock,
        onError: (error) => options.onUnwritable(isUpdraftError(error) ? error : stateUnwritable('exchange pool slots', error)),
        ownerId: `${options.pid}:${dag.dagId}:${randomUUID()}`,
        runBackwards: options.runBackwards,
        timers: options.timers,
      },
      {
        refuse: (run, task, message) => this.refused(run, task, message),
        rescan: (run) => this.scheduleReady(run),
        start: (run, task) => this.queueTaskInstance(run, task),
        stopping: () => options.signal.aborted,
        wait: (run, task, wait) => options.listener({...wait, logical_date: run.planned.logical_date, run_id: run.planned.run_id, task_id: task.taskId, type: 'task_waiting'}),
      },
    )
    const chronological = [...this.runs].sort((a, b) => (a.planned.logical_date ?? '').localeCompare(b.planned.logical_date ?? ''))
    const lastOfKey = new Map<null | string, RunProgress>()
    for (const run of chronological) {
      const previous = lastOfKey.get(run.planned.partition_key)
      run.previous = previous
      if (previous) previous.next = run
      lastOfKey.set(run.planned.partition_key, run)
    }
  }

  async run(): Promise<BackfillSummary> {
    const {dag, executor, options, plan} = this
    options.listener({
      dag_id: dag.dagId,
      excluded: plan.excluded,
      runs: plan.runs.map((run) => ({logical_date: run.logical_date, logical_dates: run.logical_dates, left_failed: run.tasks.length === 0 && leftFailed(run), partition_key: run.partition_key, run_id: run.run_id, tasks: run.tasks})),
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
    const unwatchPause = options.pause.onChange(() => this.pauseChanged())
    this.startRuns()
    this.settleIfIdle()
    await done
    await this.admission.close()
    if (!options.signal.aborted) await executor.shutdown('drain')
    options.signal.removeEventListener('abort', onAbort)
    unwatchPause()
    unsubscribe()
    if (options.signal.aborted) this.requeueUnfinishedRuns()
    return summarise(plan, this.runs, {interrupted: options.signal.aborted, labelOf: this.labelOf, wallMs: options.clock().getTime() - this.startedAt})
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

  private maybeFinishRun(run: RunProgress): void {
    if (run.finished || !run.started || run.pending.size > 0) return
    run.finished = true
    this.finishedRuns++
    // The run's context is not needed any more; a year of hourly runs would otherwise keep every one.
    run.templateValues = undefined
    this.active--
    this.recorder.runFinished(run)
    const {label, planned} = run
    this.options.listener({duration_ms: this.options.clock().getTime() - run.startedAt, label, logical_date: planned.logical_date, run_id: planned.run_id, state: combinedState(run.records), type: 'run_finished'})
  }

  private settleIfIdle(): void {
    const {options} = this
    if (this.finishedRuns === this.runs.length || (options.signal.aborted && this.inFlight.size === 0)) return this.settle()
    if (this.inFlight.size > 0 || this.retryTimers.size > 0 || this.admission.waiting > 0 || options.signal.aborted || options.pause.paused) return
    // Nothing runs and nothing will: whatever still waits can never become ready, so it fails, naming what it waited on.
    for (const run of this.runs.filter((candidate) => candidate.started && !candidate.finished)) {
      for (const taskId of run.pending) {
        const readiness = this.readiness(run, this.tasks.get(taskId) as Task)
        this.recorder.finishAttempt(run, taskId, 'upstream_failed', readiness.kind === 'waiting' && readiness.on === 'upstream' ? 'upstream-failed' : 'depends-on-past')
      }

      run.pending.clear()
      this.maybeFinishRun(run)
    }

    this.startRuns()
    if (this.finishedRuns === this.runs.length) this.settle()
  }

  private readiness(run: RunProgress, task: Task): Readiness {
    const previous = task.dependsOnPast ? run.previous : undefined
    const past = previous ? {finished: previous.finished, state: this.recorder.stateOf(previous, task.taskId)} : null
    return readinessOf(task, this.selected, lead(run).task_instances, past)
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
        this.admission.freed(task, false)
        return
      }
    }

    this.recorder.setTaskInstance(run, task.taskId, {...ti, end_date: null, exit_code: null, log_path: recordedLog, pid: options.pid, reason: null, start_date: null, state: 'queued', try_number: tryNumber})
    run.templateValues ??= runTemplateValues({dagId: dag.dagId, params: this.params, run: run.planned, timezone: dag.timezone})
    const context = taskTemplateContext(run.templateValues, task.taskId, tryNumber)
    const key = taskInstanceKey(run, task.taskId)
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
      const state = this.recorder.stateOf(run, task.taskId)
      if (run.inFlight.has(task.taskId) || run.waitingForSlots.has(task.taskId) || (state !== 'none' && state !== 'scheduled')) continue
      const readiness = this.readiness(run, task)
      switch (readiness.kind) {
        case 'blocked': {
          this.recorder.finishAttempt(run, task.taskId, 'upstream_failed', readiness.reason)
          run.pending.delete(task.taskId)
          blockedFuture ||= task.dependsOnPast
          break
        }

        case 'ready': {
          if (!this.options.signal.aborted && !this.options.pause.paused) this.admission.admit(run, task)
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
    const next = run.next
    if (blockedFuture && next) this.scheduleReady(next)
  }

  private startRuns(): void {
    const {options} = this
    while (!options.signal.aborted && !options.pause.paused && this.active < options.maxActiveRuns && this.nextToStart < this.runs.length) {
      const run = this.runs[this.nextToStart++] as RunProgress
      run.started = true
      run.startedAt = options.clock().getTime()
      this.active++
      this.recorder.runStarted(run)
      // Labelled when it starts rather than up front: a year of hourly dates would otherwise delay the first task.
      run.label = runLabel(run.planned, this.labelOf)
      options.listener({label: run.label, logical_date: run.planned.logical_date, run_id: run.planned.run_id, type: 'run_started'})
      if (options.markSuccess) {
        for (const taskId of run.planned.tasks) this.recorder.finishAttempt(run, taskId, 'success', 'marked-success')
        run.pending.clear()
      }

      this.scheduleReady(run)
    }
  }

  private afterFinalState(run: RunProgress, taskId: string): void {
    run.pending.delete(taskId)
    this.scheduleReady(run)
    const next = run.next
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
        this.admission.running(task)
        this.recorder.setTaskInstance(run, taskId, {...ti, pid: change.pid ?? options.pid, start_date: change.at.toISOString(), state: 'running'})
        return
      }

      case 'adopted': {
        // The try left behind goes on (or ended) on a worker: it is that try, not a new one, so its attempt comes
        // back out of the history and keeps its number, start and log.
        const left = ti.history.at(-1)
        const history = left?.try_number === change.tryNumber ? ti.history.slice(0, -1) : ti.history
        this.recorder.setTaskInstance(run, taskId, {...ti, history, log_path: this.logPathOf(run, taskId, change.tryNumber), start_date: left?.start_date ?? null, try_number: change.tryNumber})
        return
      }

      case 'success': {
        this.untrack(change.key)
        this.admission.freed(task, ti.state === 'running')
        this.triesHere.delete(change.key)
        this.recorder.finishAttempt(run, taskId, 'success', null, 0)
        this.afterFinalState(run, taskId)
        break
      }

      case 'failed': {
        this.untrack(change.key)
        this.admission.freed(task, ti.state === 'running')
        if (ti.log_path === null && (change.reason === 'exception' || change.reason === 'timeout')) record.task_instances[taskId] = {...ti, log_path: this.logPathOf(run, taskId, ti.try_number)}
        const retriesLeft = !options.disableRetry && (this.triesHere.get(change.key) ?? 1) <= task.retries && !options.signal.aborted
        this.recorder.finishAttempt(run, taskId, retriesLeft ? 'up_for_retry' : 'failed', change.reason, change.exitCode)
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
        this.admission.freed(task, ti.state === 'running')
        // An interruption is not a failure: the instance goes back to none so a plain re-run picks it up.
        this.recorder.finishAttempt(run, taskId, 'none', this.stopReason())
        break
      }

      case 'dropped': {
        this.untrack(change.key)
        this.admission.freed(task, ti.state === 'running')
        if (task.retries > 0) this.triesHere.set(change.key, (this.triesHere.get(change.key) ?? 1) - 1)
        // The try never started, so it is not counted and leaves no attempt behind.
        this.recorder.setTaskInstance(run, taskId, {...ti, end_date: null, log_path: null, pid: null, reason: this.stopReason(), start_date: null, state: 'none', try_number: ti.try_number - 1})
        if (change.unwritable) this.options.onUnwritable(change.unwritable)
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
      // A retry due while paused waits for the unpause, still in flight so nothing takes it for a deadlock.
      if (this.options.pause.paused) return this.pausedRetries.push({key, run, task})
      this.untrack(key)
      this.admission.retry(run, task)
    }, task.retryDelayMs)
    this.retryTimers.add(timer)
    this.track(key, entry)
  }

  /**
   * Paused: task instances waiting for slots stop waiting (first tries go back to ready, retries wait for the
   * unpause); running ones go on. Unpaused: everything ready starts again and runs enter the window.
   */
  private pauseChanged(): void {
    const {options} = this
    if (options.signal.aborted) return
    options.listener({paused: options.pause.paused, type: 'pause_changed'})
    if (options.pause.paused) {
      for (const {run, task} of this.admission.withdrawAll()) {
        const key = taskInstanceKey(run, task.taskId)
        if (this.recorder.stateOf(run, task.taskId) !== 'up_for_retry') continue
        this.track(key, {run, taskId: task.taskId})
        this.pausedRetries.push({key, run, task})
      }

      return
    }

    for (const {key, run, task} of this.pausedRetries.splice(0)) {
      this.untrack(key)
      this.admission.retry(run, task)
    }

    for (const run of this.runs) if (run.started && !run.finished) this.scheduleReady(run)
    this.startRuns()
    this.settleIfIdle()
  }

  /** The pool went away or shrank under a waiting task instance: it fails, with nothing run. */
  private refused(run: RunProgress, task: Task, message: string): void {
    const key = taskInstanceKey(run, task.taskId)
    this.untrack(key)
    this.triesHere.delete(key)
    this.recorder.finishAttempt(run, task.taskId, 'failed', 'pool')
    this.options.listener({message, run_id: run.planned.run_id, task_id: task.taskId, type: 'task_refused'})
    this.afterFinalState(run, task.taskId)
    this.settleIfIdle()
  }

  /** Ctrl-C or SIGTERM: no retry happens any more, and whatever the executor holds is killed or dropped. */
  private stop(): void {
    const {reason} = this.options.signal
    this.options.listener({signal: isUpdraftError(reason) ? reason.code : String(reason ?? 'abort'), type: 'interrupt_requested'})
    for (const timer of this.retryTimers) this.options.timers.clearTimeout(timer)
    for (const {run, task} of this.admission.withdrawAll()) {
      const ti = lead(run).task_instances[task.taskId]
      // A retry that was waiting for slots will not happen now either.
      if (ti?.state === 'up_for_retry') this.recorder.setTaskInstance(run, task.taskId, {...ti, pid: null, reason: this.stopReason(), state: 'none'})
    }

    for (const [key, entry] of this.inFlight) {
      const ti = lead(entry.run).task_instances[entry.taskId]
      if (ti?.state !== 'up_for_retry') continue
      this.untrack(key)
      // The failed try stays in the history; the retry that will not happen now leaves the instance to a re-run.
      this.recorder.setTaskInstance(entry.run, entry.taskId, {...ti, pid: null, reason: this.stopReason(), state: 'none'})
    }

    const settle = () => this.settleIfIdle()
    this.executor.shutdown('kill').then(settle, settle)
  }

  /** Why stopped instances go back to none: a cancel (`backfills cancel`) or an interruption (a signal). */
  private stopReason(): AttemptReason {
    return this.options.signal.reason === CANCEL ? 'cancelled' : 'interrupted'
  }

  private requeueUnfinishedRuns(): void {
    for (const run of this.runs) if (run.started && !run.finished) this.recorder.requeue(run)
  }
}

/** Whether the plan leaves a task instance of the run failed, as it was, for want of --rerun-failed-tasks. */
function leftFailed(run: PlannedRun): boolean {
  return run.records.some((record) => record.actions.some(isLeftFailed))
}
