import type {Clock} from '../clock.js'
import type {BackfillListener} from '../events.js'
import type {PlannedRun} from '../planner/plan-backfill.js'
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
import type {StateStore} from '../state/store.js'
import type {RunTemplateValues} from '../template/render.js'

/**
 * A run's progress. Its records are built when first needed (when the run starts, or a neighbour asks about it
 * for depends_on_past): built up front, a year of hourly runs is 87,600 blank task instances that outlive many
 * collections only to be replaced. A class, so that a year of runs shares one shape.
 */
export class RunProgress {
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
  /** The runs of the previous and next logical date of the same key, whatever order -B runs them in (depends_on_past). */
  previous: RunProgress | undefined = undefined
  next: RunProgress | undefined = undefined
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

/** How the executor, the apply loop and the pool ledger name a task instance of a run. */
export function taskInstanceKey(run: RunProgress, taskId: string): string {
  return `${run.planned.run_id}\u0000${taskId}`
}

/**
 * The run records of one backfill as the store keeps them: every change to a run or task instance is recorded
 * here, in each record of a batch, and only then told to the listener. The apply loop decides what happens;
 * this says it.
 */
export class RunRecorder {
  private lastInstant = {iso: '', ms: Number.NaN}

  constructor(
    private readonly dagId: string,
    private readonly store: StateStore,
    private readonly listener: BackfillListener,
    private readonly clock: Clock,
    private readonly selectedTasks: readonly string[],
  ) {}

  /** Many state changes share a millisecond; formatting its instant once each saves a noticeable share of a long run. */
  now(): string {
    const instant = this.clock()
    if (instant.getTime() !== this.lastInstant.ms) this.lastInstant = {iso: instant.toISOString(), ms: instant.getTime()}
    return this.lastInstant.iso
  }

  /** The state the run's task instance is in; every record of a batch holds the same. */
  stateOf(run: RunProgress, taskId: string): TaskInstanceState {
    return lead(run).task_instances[taskId]?.state ?? 'none'
  }

  /**
   * Records a task instance of a run in each of its records: a batch's dates each get the batch's outcome, with
   * their own earlier tries kept in front of it, and the batch's run id.
   */
  setTaskInstance(run: RunProgress, taskId: string, ti: TaskInstanceRecord, reason: AttemptReason | null = ti.reason): void {
    const {records} = run
    const batchRunId = records.length > 1 ? run.planned.run_id : null
    // Callers pass a fresh object; it is copied only to set the batch, so a plain run makes no extra garbage.
    const leading = ti.batch_run_id === batchRunId ? ti : {...ti, batch_run_id: batchRunId}
    const first = records[0] as DagRunRecord
    if (records.length === 1) {
      first.task_instances[taskId] = leading
      this.store.record([{dag_id: this.dagId, run_id: first.run_id, task_id: taskId, ti: leading, type: 'task_instance'}])
    } else {
      const before = first.task_instances[taskId] ?? blankTaskInstance()
      const changes: StateChange[] = records.map((record, index) => {
        const own = index === 0 ? leading : alongside(leading, before, record.task_instances[taskId] ?? blankTaskInstance())
        record.task_instances[taskId] = own
        return {dag_id: this.dagId, run_id: record.run_id, task_id: taskId, ti: own, type: 'task_instance'}
      })
      this.store.record(changes)
    }

    this.listener({
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

  finishAttempt(run: RunProgress, taskId: string, state: TaskInstanceState, reason: AttemptReason | null, exitCode: null | number = null): void {
    const ti = lead(run).task_instances[taskId] ?? blankTaskInstance()
    const end = this.now()
    const duration = ti.start_date ? new Date(end).getTime() - new Date(ti.start_date).getTime() : null
    // History keeps the attempts that did not settle the instance (a retry, an interruption); the last one is the instance itself.
    const superseded = state === 'up_for_retry' || state === 'none'
    const history = superseded ? [...ti.history, {end_date: end, exit_code: exitCode, log_path: ti.log_path, reason, start_date: ti.start_date, state, try_number: ti.try_number}] : ti.history
    this.setTaskInstance(run, taskId, {...ti, duration_ms: duration, end_date: end, exit_code: exitCode, history, pid: null, reason, state})
  }

  /**
   * Records a run entering the max_active_runs window, not up front: a year of hourly runs would otherwise be one
   * huge write before any work starts. Runs with nothing to do are left as recorded, so a backfill that finds
   * everything done writes nothing.
   */
  runStarted(run: RunProgress): void {
    const {records} = run
    for (let index = 0; index < records.length; index++) {
      const record = records[index] as DagRunRecord
      // A date with nothing left to run keeps the times of the backfill that did the work.
      const starting = run.pending.size > 0 || record.start_date === null
      if (starting) records[index] = {...record, end_date: null, start_date: this.now(), state: 'running'}
      if (starting || !run.planned.records[index]?.existing) this.store.record([{dag_id: this.dagId, run: records[index] as DagRunRecord, type: 'run'}])
    }
  }

  /** Records the final state of each of a finished run's records. */
  runFinished(run: RunProgress): void {
    const end = lead(run).end_date ?? this.now()
    for (const [index, record] of run.records.entries()) {
      const state = runStateOf(record, this.selectedTasks)
      const recordEnd = record.end_date ?? end
      if (record.state === state && record.end_date === recordEnd) continue
      run.records[index] = {...record, end_date: recordEnd, state}
      this.store.record([{dag_id: this.dagId, end_date: recordEnd, run_id: record.run_id, start_date: record.start_date, state, type: 'run_state'}])
    }
  }

  /** A run the backfill stopped in goes back to queued, for the backfill that resumes it. */
  requeue(run: RunProgress): void {
    for (const [index, record] of run.records.entries()) {
      run.records[index] = {...record, state: 'queued'}
      this.store.record([{dag_id: this.dagId, end_date: null, run_id: record.run_id, start_date: record.start_date, state: 'queued', type: 'run_state'}])
    }
  }
}

/** The record a run's scheduling reads: its first; a batch's records all hold the same task instance states. */
export function lead(run: RunProgress): DagRunRecord {
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
export function initialRecords(planned: PlannedRun, existing: DagState, selectedTasks: string[], conf: Record<string, unknown>): DagRunRecord[] {
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
