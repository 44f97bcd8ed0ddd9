import {dirname, join} from 'node:path'

import type {Clock} from '../clock.js'
import type {Dag, Task} from '../dag/model.js'
import type {BackfillListener} from '../events.js'
import {type BackfillPlan, type PlannedRun, runDocument} from '../planner/plan-backfill.js'
import {labelAsArgument} from '../schedule/logical-date.js'
import {type ExcludedCounts, labelerFor} from '../schedule/resolve-dates.js'
import {
  type AttemptReason,
  blankTaskInstance,
  type DagRunRecord,
  type DagRunState,
  DONE_STATES,
  FAILED_STATES,
  type StateChange,
  type TaskInstanceRecord,
  type TaskInstanceState,
} from '../state/schema.js'
import type {StateStore} from '../state/store.js'
import {compileTemplate, type CompiledTemplate, runTemplateValues, type RunTemplateValues, templateEnvironment} from '../template/render.js'
import {unreachable} from '../errors.js'
import type {Executor, TaskStateChange} from './executor.js'
import {appendLog} from './task-log.js'

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
  pid: number
  signal: AbortSignal
}

/** One logical date's outcome, in the shape of the §7 JSON document. */
export interface RunOutcome {
  data_interval_end: string
  data_interval_start: string
  logical_date: string
  run_id: string
  state: DagRunState
  task_instances: Record<string, TaskInstanceState>
  tasks: string[]
}

/** A task instance that ended failed or upstream_failed, for the failure table. */
export interface FailureRow {
  /** The logical date as it reads in the DAG's zone. */
  label: string
  log_path: null | string
  logical_date: string
  reason: AttemptReason | null
  state: TaskInstanceState
  task_id: string
  try_number: number
}

/** A run that stays failed only because of task instances this backfill did not select. */
export interface FailedOutsideSelection {
  /** The date as a `-D` value that re-runs it. */
  date_argument: string
  label: string
  logical_date: string
  run_id: string
  /** The unselected task instances that keep the run failed, with their states. */
  task_instances: Record<string, TaskInstanceState>
}

/** What a backfill did; the command maps it to an exit code and the `--json` document. */
export interface BackfillSummary {
  /** Dates that had nothing left to run when the backfill started. */
  already_complete: number
  counts: {runs: Partial<Record<DagRunState, number>>; task_instances: Partial<Record<TaskInstanceState, number>>}
  dag_id: string
  excluded: ExcludedCounts
  /** Runs failed because of task instances outside the selection (`-t`), so a user knows what else to run. */
  failed_outside_selection: FailedOutsideSelection[]
  failures: FailureRow[]
  interrupted: boolean
  /** Selected task instances that had already failed and were left alone (no `--rerun-failed-tasks`). */
  not_rerun: number
  runs: RunOutcome[]
  wall_ms: number
}

interface RunProgress {
  finished: boolean
  /** Task ids queued on the executor or waiting for a retry. */
  inFlight: Set<string>
  label: string
  /** Where this run's task logs go, joined once. */
  logDir?: string
  /** Task ids still to reach a final state in this backfill. */
  pending: Set<string>
  planned: PlannedRun
  record: DagRunRecord
  started: boolean
  startedAt: number
  templateValues?: RunTemplateValues
}

/**
 * Runs a plan: records it, then queues each ready task instance on the executor within the max_active_runs
 * window, records every state change, and only then emits the matching event, so the view never shows a state
 * that a crash could lose. Failures are outcomes (states and reasons), never exceptions.
 */
export async function applyPlan(dag: Dag, plan: BackfillPlan, store: StateStore, executor: Executor, options: ApplyOptions): Promise<BackfillSummary> {
  const {clock, listener} = options
  const startedAt = clock().getTime()
  const tasks = new Map(dag.tasks.map((task) => [task.taskId, task]))
  const selected = new Set(plan.selected_tasks)
  const templates = new Map<string, CompiledTemplate>()
  const params = {...dag.params, ...options.conf}
  const existing = await store.readDag(dag.dagId)
  // Many state changes share a millisecond; formatting its instant once each saves a noticeable share of a long run.
  let lastInstant = {iso: '', ms: Number.NaN}
  const now = () => {
    const instant = clock()
    if (instant.getTime() !== lastInstant.ms) lastInstant = {iso: instant.toISOString(), ms: instant.getTime()}
    return lastInstant.iso
  }
  const dagFolder = dirname(dag.fileloc)
  const labelOf = labelerFor(dag)

  const runs = plan.runs.map((planned) => runProgress(planned, () => initialRunRecord(planned, existing.runs[planned.run_id], plan.selected_tasks, options.conf)))
  // depends_on_past looks at the previous logical date, which is the previous run in time order, whatever -B did.
  const chronological = [...runs].sort((a, b) => a.planned.logical_date.localeCompare(b.planned.logical_date))
  const previousRun = new Map(chronological.map((run, index) => [run, chronological[index - 1]]))
  const nextRun = new Map(chronological.map((run, index) => [run, chronological[index + 1]]))

  listener({
    dag_id: dag.dagId,
    excluded: plan.excluded,
    runs: plan.runs.map((run) => ({logical_date: run.logical_date, run_id: run.run_id, tasks: run.tasks})),
    timezone: dag.timezone,
    type: 'backfill_started',
  })

  const inFlight = new Map<string, {run: RunProgress; taskId: string}>()
  const track = (key: string, entry: {run: RunProgress; taskId: string}) => {
    inFlight.set(key, entry)
    entry.run.inFlight.add(entry.taskId)
  }

  const untrack = (key: string) => {
    const entry = inFlight.get(key)
    if (!entry) return
    inFlight.delete(key)
    entry.run.inFlight.delete(entry.taskId)
  }

  const retryTimers = new Set<NodeJS.Timeout>()
  let nextToStart = 0
  let active = 0
  let finishedRuns = 0
  let settle: () => void = () => {}
  const done = new Promise<void>((resolve) => {
    settle = resolve
  })

  const setTaskInstance = (run: RunProgress, taskId: string, ti: TaskInstanceRecord, reason: AttemptReason | null = ti.reason) => {
    run.record.task_instances[taskId] = ti
    store.record([{dag_id: dag.dagId, run_id: run.planned.run_id, task_id: taskId, ti, type: 'task_instance'} satisfies StateChange])
    listener({
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

  const finishAttempt = (run: RunProgress, taskId: string, state: TaskInstanceState, reason: AttemptReason | null, exitCode: null | number = null) => {
    const ti = run.record.task_instances[taskId] ?? blankTaskInstance()
    const end = now()
    const duration = ti.start_date ? new Date(end).getTime() - new Date(ti.start_date).getTime() : null
    // History keeps the attempts that did not settle the instance (a retry, an interruption); the last one is the instance itself.
    const superseded = state === 'up_for_retry' || state === 'none'
    const history = superseded ? [...ti.history, {end_date: end, exit_code: exitCode, log_path: ti.log_path, reason, start_date: ti.start_date, state, try_number: ti.try_number}] : ti.history
    setTaskInstance(run, taskId, {...ti, duration_ms: duration, end_date: end, exit_code: exitCode, history, pid: null, reason, state})
  }

  const maybeFinishRun = (run: RunProgress) => {
    if (run.finished || !run.started || run.pending.size > 0) return
    run.finished = true
    finishedRuns++
    // The run's context is not needed any more; a year of hourly runs would otherwise keep every one.
    delete run.templateValues
    active--
    const state = runStateOf(run.record, plan.selected_tasks)
    const end = run.record.end_date ?? now()
    const unchanged = run.record.state === state && run.record.end_date === end
    run.record = {...run.record, end_date: end, state}
    if (!unchanged) store.record([{dag_id: dag.dagId, end_date: end, run_id: run.planned.run_id, start_date: run.record.start_date, state, type: 'run_state'}])
    listener({duration_ms: clock().getTime() - run.startedAt, label: run.label, logical_date: run.planned.logical_date, run_id: run.planned.run_id, state, type: 'run_finished'})
  }

  const settleIfIdle = () => {
    if (finishedRuns === runs.length || (options.signal.aborted && inFlight.size === 0)) return settle()
    if (inFlight.size > 0 || retryTimers.size > 0 || options.signal.aborted) return
    // Nothing runs and nothing will: whatever still waits can never become ready, so it fails instead of hanging.
    for (const run of runs.filter((candidate) => candidate.started && !candidate.finished)) {
      for (const taskId of run.pending) finishAttempt(run, taskId, 'upstream_failed', 'depends-on-past')
      run.pending.clear()
      maybeFinishRun(run)
    }

    startRuns()
    if (finishedRuns === runs.length) settle()
  }

  const upstreamVerdict = (run: RunProgress, task: Task): 'failed' | 'ready' | 'wait' => {
    for (const upstreamId of task.upstream) {
      // Under -i an unselected upstream counts as satisfied.
      if (!selected.has(upstreamId)) continue
      const state = run.record.task_instances[upstreamId]?.state ?? 'none'
      if (FAILED_STATES.has(state)) return 'failed'
      if (!DONE_STATES.has(state)) return 'wait'
    }

    return 'ready'
  }

  const pastVerdict = (run: RunProgress, task: Task): 'failed' | 'ready' | 'wait' => {
    const previous = previousRun.get(run)
    if (!task.dependsOnPast || !previous) return 'ready'
    const state = previous.record.task_instances[task.taskId]?.state ?? 'none'
    if (DONE_STATES.has(state)) return 'ready'
    return FAILED_STATES.has(state) || previous.finished ? 'failed' : 'wait'
  }

  const keyOf = (run: RunProgress, taskId: string) => `${run.planned.run_id}\u0000${taskId}`
  const logPathOf = (run: RunProgress, taskId: string, tryNumber: number) => `${(run.logDir ??= join(options.logsDir, dag.dagId, run.planned.run_id))}/${taskId}/attempt=${tryNumber}.log`

  const queueTaskInstance = (run: RunProgress, task: Task) => {
    const ti = run.record.task_instances[task.taskId] ?? blankTaskInstance()
    const tryNumber = ti.try_number + 1
    const logPath = logPathOf(run, task.taskId, tryNumber)
    // A callable writes its log only when it throws, so its log path is recorded then.
    const recordedLog = task.bashCommand === null ? null : logPath
    setTaskInstance(run, task.taskId, {...ti, end_date: null, exit_code: null, log_path: recordedLog, pid: options.pid, reason: null, start_date: null, state: 'queued', try_number: tryNumber})
    run.templateValues ??= runTemplateValues({
      dagId: dag.dagId,
      intervalEnd: run.planned.data_interval_end,
      intervalStart: run.planned.data_interval_start,
      params,
      runId: run.planned.run_id,
      timezone: dag.timezone,
    })
    const context = {...run.templateValues, task_id: task.taskId, try_number: tryNumber}
    const key = keyOf(run, task.taskId)
    track(key, {run, taskId: task.taskId})
    let command = ''
    if (task.bashCommand !== null) {
      try {
        let template = templates.get(task.taskId)
        if (!template) templates.set(task.taskId, (template = compileTemplate(task.bashCommand)))
        command = template.render(context)
      } catch (error) {
        const message = `template error: ${(error as Error).message}`
        appendLog(logPath, `${message}\n`)
        handleChange({at: clock(), exitCode: null, key, message, reason: 'exception', startedAt: null, state: 'failed'})
        return
      }
    }

    executor.queue({
      cwd: dagFolder,
      // Only a child process reads an environment; callables get the context object itself.
      env: task.bashCommand === null ? {} : {...options.baseEnv, ...task.env, ...templateEnvironment(context)},
      key,
      logPath,
      timeoutMs: task.executionTimeoutMs,
      work: task.callable === null ? {command, kind: 'bash'} : {callable: task.callable, context, kind: 'callable'},
    })
  }

  const scheduleReady = (run: RunProgress): void => {
    if (!run.started || run.finished) return
    let blockedFuture = false
    // Topological order means one pass marks a whole failed branch upstream_failed.
    for (const task of dag.tasks) {
      if (!run.pending.has(task.taskId)) continue
      const state = run.record.task_instances[task.taskId]?.state ?? 'none'
      if (run.inFlight.has(task.taskId) || (state !== 'none' && state !== 'scheduled')) continue
      const upstream = upstreamVerdict(run, task)
      const past = upstream === 'ready' ? pastVerdict(run, task) : upstream
      if (upstream === 'failed' || past === 'failed') {
        finishAttempt(run, task.taskId, 'upstream_failed', upstream === 'failed' ? 'upstream-failed' : 'depends-on-past')
        run.pending.delete(task.taskId)
        blockedFuture ||= task.dependsOnPast
        continue
      }

      if (past === 'ready' && !options.signal.aborted) queueTaskInstance(run, task)
    }

    maybeFinishRun(run)
    // The same task on the next date may be waiting for this one; it can only fail now, so tell it.
    const next = nextRun.get(run)
    if (blockedFuture && next) scheduleReady(next)
  }

  const startRuns = () => {
    while (!options.signal.aborted && active < options.maxActiveRuns && nextToStart < runs.length) {
      const run = runs[nextToStart++] as RunProgress
      run.started = true
      run.startedAt = clock().getTime()
      active++
      // A date with nothing left to run keeps the times of the backfill that did the work.
      const starting = run.pending.size > 0 || run.record.start_date === null
      if (starting) run.record = {...run.record, end_date: null, start_date: now(), state: 'running'}
      // A run is recorded when it enters the window, not up front: a year of hourly runs would otherwise be one
      // huge write before any work starts. Runs with nothing to do are left as recorded, so a backfill that finds
      // everything done writes nothing.
      if (starting || !run.planned.existing) store.record([{dag_id: dag.dagId, run: run.record, type: 'run'}])

      // Labelled when it starts rather than up front: a year of hourly dates would otherwise delay the first task.
      run.label = labelOf(run.planned.logical_date)
      listener({label: run.label, logical_date: run.planned.logical_date, run_id: run.planned.run_id, type: 'run_started'})
      if (options.markSuccess) {
        for (const taskId of run.planned.tasks) finishAttempt(run, taskId, 'success', 'marked-success')
        run.pending.clear()
      }

      scheduleReady(run)
    }
  }

  const afterFinalState = (run: RunProgress, taskId: string) => {
    run.pending.delete(taskId)
    scheduleReady(run)
    const next = nextRun.get(run)
    if (next && tasks.get(taskId)?.dependsOnPast) scheduleReady(next)
    startRuns()
  }

  function handleChange(change: TaskStateChange): void {
    const entry = inFlight.get(change.key)
    if (!entry) return
    const {run, taskId} = entry
    const task = tasks.get(taskId) as Task
    if ((change.state === 'success' || change.state === 'failed') && change.startedAt) {
      // A try that ended as it started: its start is recorded with its end, in the same state change.
      run.record.task_instances[taskId] = {...(run.record.task_instances[taskId] ?? blankTaskInstance()), start_date: change.startedAt.toISOString()}
    }

    const ti = run.record.task_instances[taskId] ?? blankTaskInstance()
    switch (change.state) {
      case 'running': {
        setTaskInstance(run, taskId, {...ti, pid: change.pid ?? options.pid, start_date: change.at.toISOString(), state: 'running'})
        return
      }

      case 'success': {
        untrack(change.key)
        finishAttempt(run, taskId, 'success', null, 0)
        afterFinalState(run, taskId)
        break
      }

      case 'failed': {
        untrack(change.key)
        if (ti.log_path === null && (change.reason === 'exception' || change.reason === 'timeout')) run.record.task_instances[taskId] = {...ti, log_path: logPathOf(run, taskId, ti.try_number)}
        const retriesLeft = !options.disableRetry && ti.try_number <= task.retries && !options.signal.aborted
        finishAttempt(run, taskId, retriesLeft ? 'up_for_retry' : 'failed', change.reason, change.exitCode)
        if (retriesLeft) {
          const timer = setTimeout(() => {
            retryTimers.delete(timer)
            if (options.signal.aborted) return settleIfIdle()
            queueTaskInstance(run, task)
          }, task.retryDelayMs)
          retryTimers.add(timer)
          track(change.key, entry)
        } else {
          afterFinalState(run, taskId)
        }

        break
      }

      case 'interrupted': {
        untrack(change.key)
        // An interruption is not a failure: the instance goes back to none so a plain re-run picks it up.
        finishAttempt(run, taskId, 'none', 'interrupted')
        break
      }

      case 'dropped': {
        untrack(change.key)
        // The try never started, so it is not counted and leaves no attempt behind.
        setTaskInstance(run, taskId, {...ti, end_date: null, log_path: null, pid: null, reason: 'interrupted', start_date: null, state: 'none', try_number: ti.try_number - 1})
        break
      }

      default: {
        unreachable(change)
      }
    }

    settleIfIdle()
  }

  const unsubscribe = executor.onStateChange(handleChange)
  const onAbort = () => {
    listener({signal: String(options.signal.reason ?? 'abort'), type: 'interrupt_requested'})
    for (const timer of retryTimers) clearTimeout(timer)
    for (const [key, entry] of inFlight) {
      const ti = entry.run.record.task_instances[entry.taskId]
      if (ti?.state !== 'up_for_retry') continue
      untrack(key)
      // The failed try stays in the history; the retry that will not happen now leaves the instance to a re-run.
      setTaskInstance(entry.run, entry.taskId, {...ti, pid: null, reason: 'interrupted', state: 'none'})
    }

    executor.shutdown('kill').then(settleIfIdle, settleIfIdle)
  }

  if (options.signal.aborted) onAbort()
  else options.signal.addEventListener('abort', onAbort, {once: true})
  startRuns()
  settleIfIdle()
  await done
  if (!options.signal.aborted) await executor.shutdown('drain')
  options.signal.removeEventListener('abort', onAbort)
  unsubscribe()

  if (options.signal.aborted) {
    for (const run of runs.filter((candidate) => candidate.started && !candidate.finished)) {
      run.record = {...run.record, state: 'queued'}
      store.record([{dag_id: dag.dagId, end_date: null, run_id: run.planned.run_id, start_date: run.record.start_date, state: 'queued', type: 'run_state'}])
    }
  }

  await store.flush()
  return summarise(dag.dagId, plan, runs.map((run) => run.record), {interrupted: options.signal.aborted, labelOf, wallMs: clock().getTime() - startedAt})
}

/**
 * A run's progress. Its record is built when first needed (when the run starts, or a neighbour asks about it
 * for depends_on_past): built up front, a year of hourly runs is 87,600 blank task instances that outlive many
 * collections only to be replaced.
 */
function runProgress(planned: PlannedRun, initial: () => DagRunRecord): RunProgress {
  let record: DagRunRecord | undefined
  return {
    finished: false,
    inFlight: new Set(),
    label: '',
    pending: new Set(planned.tasks),
    planned,
    get record() {
      return (record ??= initial())
    },
    set record(value) {
      record = value
    },
    started: false,
    startedAt: 0,
  }
}

/**
 * The run record a backfill starts from, as the plan says: instances it clears or recovers move their last
 * attempt into the history (a recovered one, and one cleared while in progress, with reason `interrupted`) and
 * start afresh; every other instance is kept as recorded.
 */
function initialRunRecord(planned: PlannedRun, existing: DagRunRecord | undefined, selectedTasks: string[], conf: Record<string, unknown>): DagRunRecord {
  const taskInstances: Record<string, TaskInstanceRecord> = {...existing?.task_instances}
  for (const taskId of selectedTasks) taskInstances[taskId] ??= blankTaskInstance()
  for (const taskId of [...planned.cleared, ...planned.recovered.map((recovery) => recovery.task_id)]) {
    const ti = taskInstances[taskId] ?? blankTaskInstance()
    const cutShort = !DONE_STATES.has(ti.state) && !FAILED_STATES.has(ti.state)
    const attempt = {end_date: ti.end_date, exit_code: ti.exit_code, log_path: ti.log_path, reason: cutShort ? ('interrupted' as const) : ti.reason, start_date: ti.start_date, state: ti.state, try_number: ti.try_number}
    taskInstances[taskId] = {...blankTaskInstance(), history: [...ti.history, attempt], try_number: ti.try_number}
  }

  return {
    conf,
    data_interval_end: planned.data_interval_end,
    data_interval_start: planned.data_interval_start,
    end_date: existing?.end_date ?? null,
    logical_date: planned.logical_date,
    run_id: planned.run_id,
    start_date: existing?.start_date ?? null,
    state: planned.tasks.length > 0 ? 'queued' : (existing?.state ?? 'queued'),
    task_instances: taskInstances,
  }
}

/**
 * A finished run's state covers all of its task instances: it succeeds when every selected one is done and no
 * other one has failed, so re-running one fixed task never hides failures of the tasks left out of `-t`.
 */
export function runStateOf(record: DagRunRecord, selectedTasks: readonly string[]): DagRunState {
  const selectedDone = selectedTasks.every((id) => DONE_STATES.has(record.task_instances[id]?.state ?? 'none'))
  return selectedDone && !Object.values(record.task_instances).some((ti) => FAILED_STATES.has(ti.state)) ? 'success' : 'failed'
}

function summarise(
  dagId: string,
  plan: BackfillPlan,
  records: DagRunRecord[],
  outcome: {interrupted: boolean; labelOf: (iso: string) => string; wallMs: number},
): BackfillSummary {
  const counts: BackfillSummary['counts'] = {runs: {}, task_instances: {}}
  const failures: FailureRow[] = []
  const failedOutsideSelection: FailedOutsideSelection[] = []
  const selected = new Set(plan.selected_tasks)
  const outcomes = plan.runs.map((planned, index): RunOutcome => {
    const record = records[index] as DagRunRecord
    const taskInstances: Record<string, TaskInstanceState> = {}
    for (const taskId of plan.selected_tasks) {
      const ti = record.task_instances[taskId] ?? blankTaskInstance()
      taskInstances[taskId] = ti.state
      counts.task_instances[ti.state] = (counts.task_instances[ti.state] ?? 0) + 1
      if (FAILED_STATES.has(ti.state)) {
        failures.push({label: outcome.labelOf(planned.logical_date), log_path: ti.log_path, logical_date: planned.logical_date, reason: ti.reason, state: ti.state, task_id: taskId, try_number: ti.try_number})
      }
    }

    const outside = Object.entries(record.task_instances).filter(([taskId, ti]) => !selected.has(taskId) && FAILED_STATES.has(ti.state))
    if (outside.length > 0 && Object.values(taskInstances).every((state) => DONE_STATES.has(state))) {
      const label = outcome.labelOf(planned.logical_date)
      failedOutsideSelection.push({
        date_argument: labelAsArgument(label),
        label,
        logical_date: planned.logical_date,
        run_id: planned.run_id,
        task_instances: Object.fromEntries(outside.map(([taskId, ti]) => [taskId, ti.state])),
      })
    }

    counts.runs[record.state] = (counts.runs[record.state] ?? 0) + 1
    return {
      data_interval_end: planned.data_interval_end,
      data_interval_start: planned.data_interval_start,
      logical_date: planned.logical_date,
      run_id: planned.run_id,
      state: record.state,
      task_instances: taskInstances,
      tasks: planned.tasks,
    }
  })
  return {
    already_complete: plan.runs.filter((run) => run.tasks.length === 0 && run.skipped.every((skip) => skip.reason !== 'already-failed')).length,
    counts,
    dag_id: dagId,
    excluded: plan.excluded,
    failed_outside_selection: failedOutsideSelection,
    failures,
    interrupted: outcome.interrupted,
    not_rerun: plan.runs.reduce((sum, run) => sum + run.skipped.filter((skip) => skip.reason === 'already-failed').length, 0),
    runs: outcomes,
    wall_ms: outcome.wallMs,
  }
}

/** True when every selected task instance of every date ended success or skipped: the only exit 0. */
export function allSucceeded(summary: BackfillSummary): boolean {
  return summary.runs.every((run) => Object.values(run.task_instances).every((state) => DONE_STATES.has(state)))
}

/** The `--json` document of a finished backfill: the dry-run shape plus `state` and `task_instances` per run. */
export function summaryDocument(summary: BackfillSummary) {
  return {
    dag_id: summary.dag_id,
    runs: summary.runs.map((run) => ({...runDocument(run), state: run.state, task_instances: run.task_instances})),
    excluded: summary.excluded,
  }
}
