import type {Clock, Timers} from '../clock.js'
import type {Dag, Task} from '../dag/model.js'
import type {PoolStore} from '../state/pools.js'
import {PoolGate, type PoolWait} from './pool-gate.js'
import {type RunProgress, taskInstanceKey} from './run-records.js'

/** What admission tells the apply loop, which decides what each means for the task instance. */
export interface AdmissionHooks {
  /** The task instance may start now: its slots are held. */
  start(run: RunProgress, task: Task): void
  /** It can never get its slots (its pool was deleted or shrunk). */
  refuse(run: RunProgress, task: Task, message: string): void
  /** A run held back by its task's max_active_tis_per_dag may go on: look at its ready task instances again. */
  rescan(run: RunProgress): void
  /** Whether the backfill is stopping: slots granted now are given straight back. */
  stopping(): boolean
  wait(run: RunProgress, task: Task, wait: PoolWait): void
}

export interface AdmissionOptions {
  clock: Clock
  onError: (error: unknown) => void
  /** Who this loop is in the pool ledger; unique across processes and machines. */
  ownerId: string
  /** `-B`: among equals waiting for a pool, the newest date starts first. */
  runBackwards: boolean
  timers: Timers
}

/**
 * When a ready task instance may start (README "Pools"): within its run's max_active_tasks and its task's
 * max_active_tis_per_dag, then once its pool grants its slots. The apply loop asks and is told; it never waits
 * itself, so a task instance waiting here is never mistaken for one that can never run.
 */
export class Admission {
  /** Tries queued, running or waiting for slots, per task, for max_active_tis_per_dag. */
  private readonly activeOfTask = new Map<string, number>()
  /** Runs holding a ready task instance back for its task's cap, per task. */
  private readonly heldForTaskCap = new Map<string, Set<RunProgress>>()
  private readonly gate: PoolGate
  private readonly waiters = new Map<string, {run: RunProgress; task: Task}>()

  constructor(
    private readonly dag: Dag,
    pools: PoolStore,
    private readonly options: AdmissionOptions,
    private readonly hooks: AdmissionHooks,
  ) {
    this.gate = new PoolGate({
      onError: options.onError,
      onGranted: (key) => this.granted(key),
      onRejected: (key, message) => this.rejected(key, message),
      onWaiting: (key, wait) => {
        const waiter = this.waiters.get(key)
        if (waiter) hooks.wait(waiter.run, waiter.task, wait)
      },
      ownerId: options.ownerId,
      pools,
      timers: options.timers,
    })
  }

  /** How many task instances wait for slots. */
  get waiting(): number {
    return this.waiters.size
  }

  /**
   * A ready task instance goes to its pool unless its run's max_active_tasks or its task's max_active_tis_per_dag
   * holds it back; the run is then looked at again when a try of either ends.
   */
  admit(run: RunProgress, task: Task): void {
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

  /** A retry asks for slots again, as any ready task instance does; the caps let it through, as they let its first try. */
  retry(run: RunProgress, task: Task): void {
    this.requestSlots(run, task)
  }

  running(task: Task): void {
    this.gate.running(task.pool, task.poolSlots)
  }

  /** A try's slots are free again (`ran`: it had reported running), and so is its place under its task's cap. */
  freed(task: Task, ran: boolean): void {
    this.gate.release(task.pool, task.poolSlots, ran, task.maxActiveTisPerDag === null ? null : this.capKeyOf(task))
    this.capFreed(task)
  }

  /** The backfill stops: every waiter stops waiting; they are returned, for the loop to record. */
  withdrawAll(): Array<{run: RunProgress; task: Task}> {
    const withdrawn = [...this.waiters.entries()]
    for (const [key, {run, task}] of withdrawn) {
      this.waiters.delete(key)
      run.waitingForSlots.delete(task.taskId)
      this.gate.withdraw(key)
      this.capFreed(task)
    }

    return withdrawn.map(([, waiter]) => waiter)
  }

  close(): Promise<void> {
    return this.gate.close()
  }

  private requestSlots(run: RunProgress, task: Task): void {
    const {taskId} = task
    if (task.maxActiveTisPerDag !== null) this.activeOfTask.set(taskId, (this.activeOfTask.get(taskId) ?? 0) + 1)
    // Most task instances find a slot this loop already holds: they start without a waiter's bookkeeping. A
    // capped task asks the ledger each time, which counts its tries in every process.
    const cap = task.maxActiveTisPerDag
    if (cap === null && this.gate.take(task.pool, task.poolSlots)) return this.hooks.start(run, task)
    const {planned} = run
    const key = taskInstanceKey(run, taskId)
    run.waitingForSlots.add(taskId)
    this.waiters.set(key, {run, task})
    this.gate.request({
      asked_at: this.options.clock().getTime(),
      ...(cap === null ? {} : {cap: {key: this.capKeyOf(task), limit: cap}}),
      key,
      logical_date: planned.logical_date,
      newest_first: this.options.runBackwards,
      pool: task.pool,
      priority: task.priorityWeight,
      scheduled: planned.records.every((record) => record.run_id.startsWith('scheduled__')),
      slots: task.poolSlots,
    })
  }

  private granted(key: string): void {
    const waiter = this.take(key)
    if (!waiter) return
    if (this.hooks.stopping()) return this.freed(waiter.task, false)
    this.hooks.start(waiter.run, waiter.task)
  }

  private rejected(key: string, message: string): void {
    const waiter = this.take(key)
    if (!waiter) return
    this.capFreed(waiter.task)
    this.hooks.refuse(waiter.run, waiter.task, message)
  }

  private take(key: string): undefined | {run: RunProgress; task: Task} {
    const waiter = this.waiters.get(key)
    if (!waiter) return undefined
    this.waiters.delete(key)
    waiter.run.waitingForSlots.delete(waiter.task.taskId)
    return waiter
  }

  private capKeyOf(task: Task): string {
    return `${this.dag.dagId}.${task.taskId}`
  }

  /** A place under max_active_tis_per_dag is free again: runs it held back look again. */
  private capFreed({maxActiveTisPerDag, taskId}: Task): void {
    if (maxActiveTisPerDag === null) return
    this.activeOfTask.set(taskId, Math.max(0, (this.activeOfTask.get(taskId) ?? 0) - 1))
    const held = this.heldForTaskCap.get(taskId)
    if (!held || held.size === 0) return
    this.heldForTaskCap.delete(taskId)
    for (const run of held) this.hooks.rescan(run)
  }
}
