import {setMaxListeners} from 'node:events'

import PQueue from 'p-queue'

import type {Clock} from '../clock.js'
import {stateUnwritable} from '../errors.js'
import type {Executor, QueuedTaskInstance, TaskStateChange} from './executor.js'
import {appendLog} from './task-log.js'
import type {Spawner} from './spawn-server.js'

/** Settings of the local executor. */
export interface LocalExecutorOptions {
  clock: Clock
  /** Time a terminated process group gets between SIGTERM and SIGKILL. */
  killGraceMs?: number
  parallelism: number
  /** Starts shell commands; the spawn server unless a test or a platform asks for another. */
  spawner: Spawner
}

const YIELD_EVERY_MS = 10

interface Running {
  pid: null | number
}

/**
 * Runs bash tasks as `/bin/sh -c` children (through the spawner), each the leader of its own process group so a
 * timeout or an interrupt reaches its descendants too, and callables in-process; p-queue keeps at most
 * `parallelism` running.
 */
export class LocalExecutor implements Executor {
  private readonly listeners = new Set<(change: TaskStateChange) => void>()
  private readonly callablePool: PQueue
  private readonly running = new Map<string, Running>()
  private readonly shellPool: PQueue
  /**
   * Aborted (reason `interrupted`) when the executor is killed. A try without execution_timeout listens to it
   * directly; only a try with a timeout gets a signal of its own, since a year of hourly tries would otherwise
   * spend a noticeable share of the run creating abort controllers.
   */
  private readonly stop = new AbortController()
  private lastYield = 0

  constructor(private readonly options: LocalExecutorOptions) {
    this.callablePool = new PQueue({concurrency: options.parallelism})
    // A bounded spawner runs at most `parallelism` commands itself; handing it as many again keeps it busy.
    this.shellPool = new PQueue({concurrency: options.spawner.bounded ? 2 * options.parallelism : options.parallelism})
    // Every running try listens to it, so more than the default 10 listeners is expected.
    setMaxListeners(0, this.stop.signal)
  }

  onStateChange(listener: (change: TaskStateChange) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  queue(ti: QueuedTaskInstance): void {
    const pool = ti.work.kind === 'bash' ? this.shellPool : this.callablePool
    pool.add(() => this.execute(ti)).catch(() => {})
  }

  async shutdown(mode: 'drain' | 'kill'): Promise<void> {
    if (mode === 'kill') {
      // What is still waiting in a pool runs out at once, each reported as dropped by execute().
      this.stop.abort('interrupted')
      this.options.spawner.cancelWaiting()
    }

    await Promise.all([this.shellPool.onIdle(), this.callablePool.onIdle()])
    this.options.spawner.close()
  }

  /** Sends SIGKILL to every running process group at once, for a second Ctrl-C that will not wait. */
  killNow(): void {
    for (const running of this.running.values()) if (running.pid !== null) signalGroup(running.pid, 'SIGKILL')
  }

  /**
   * In-process tasks that finish at once chain into each other through promises, which never lets the event loop
   * turn: signals, the view's frames and state flushes would wait for the whole backfill. Every few milliseconds
   * the next task waits for one turn of the loop.
   */
  private async yieldNowAndThen(): Promise<void> {
    const now = this.options.clock().getTime()
    if (now - this.lastYield < YIELD_EVERY_MS) return
    await new Promise((resolve) => {
      setImmediate(resolve)
    })
    this.lastYield = this.options.clock().getTime()
  }

  private emit(change: TaskStateChange): void {
    for (const listener of this.listeners) listener(change)
  }

  private async execute(ti: QueuedTaskInstance): Promise<void> {
    await this.yieldNowAndThen()
    // Stopped before it started (perhaps while it waited for that turn): it must not start any more.
    if (this.stop.signal.aborted) {
      this.emit({at: this.options.clock(), key: ti.key, state: 'dropped'})
      return
    }

    const running: Running = {pid: null}
    this.running.set(ti.key, running)
    const timeout = ti.timeoutMs === null ? null : new AbortController()
    const signal = timeout ? AbortSignal.any([this.stop.signal, timeout.signal]) : this.stop.signal
    let timer: NodeJS.Timeout | undefined
    // The clock of execution_timeout starts when the task starts, not while it waits for a free slot.
    const armTimeout = () => {
      if (timeout && ti.timeoutMs !== null) timer = setTimeout(() => timeout.abort('timeout'), ti.timeoutMs)
    }

    try {
      const outcome = ti.work.kind === 'bash' ? await this.runShell(ti, ti.work.command, running, signal, armTimeout) : await this.runCallable(ti, signal, armTimeout)
      this.emit(outcome)
    } finally {
      if (timer) clearTimeout(timer)
      this.running.delete(ti.key)
    }
  }

  private async runShell(ti: QueuedTaskInstance, command: string, running: Running, signal: AbortSignal, armTimeout: () => void): Promise<TaskStateChange> {
    const {clock} = this.options
    let stopGroup = () => {}
    const outcome = await this.options.spawner.run({command, cwd: ti.cwd, env: ti.env, logPath: ti.logPath}, (pid) => {
      running.pid = pid
      armTimeout()
      this.emit({at: clock(), key: ti.key, pid, state: 'running'})
      stopGroup = () => this.killGroup(pid)
      signal.addEventListener('abort', stopGroup, {once: true})
      // An abort that came before the pid was known still has to reach the process group.
      if (signal.aborted) stopGroup()
    })
    signal.removeEventListener('abort', stopGroup)
    const at = clock()
    if (signal.aborted) {
      // Cancelled while still waiting in the spawner: the command never ran.
      if (running.pid === null) return {at, key: ti.key, state: 'dropped'}
      return this.abortedChange(ti, signal.reason, at)
    }

    // Not the task's failure: nothing ran, and the state folder can no longer be written.
    if (outcome.logError) return {at, key: ti.key, state: 'dropped', unwritable: stateUnwritable(`open the task log ${ti.logPath}`, outcome.logError)}
    if (outcome.error) {
      appendLog(ti.logPath, `\n${outcome.error.message}\n`)
      return {at, exitCode: null, key: ti.key, message: outcome.error.message, reason: 'spawn-error', startedAt: null, state: 'failed'}
    }

    if (outcome.exitCode !== 0) {
      return {at, exitCode: outcome.exitCode, key: ti.key, message: `exit code ${outcome.exitCode}`, reason: 'exit-non-zero', startedAt: null, state: 'failed'}
    }

    return {at, key: ti.key, startedAt: null, state: 'success'}
  }

  private async runCallable(ti: QueuedTaskInstance, signal: AbortSignal, armTimeout: () => void): Promise<TaskStateChange> {
    const {clock} = this.options
    if (ti.work.kind !== 'callable') throw new Error('runCallable needs a callable')
    armTimeout()
    const {callable, context} = ti.work
    const startedAt = clock()
    // Reported as running only once it is known to take a while: a callable that returns (or throws) at once is
    // recorded when it ends, which spares a year of hourly no-op tasks a third of their state changes.
    let reportedRunning = false
    let onAbort = () => {}
    try {
      const result = callable({...context, signal})
      if (isPromiseLike(result)) {
        this.emit({at: startedAt, key: ti.key, pid: null, state: 'running'})
        reportedRunning = true
        // A callable that ignores its signal cannot be stopped, so the race lets a timeout or interrupt end the try.
        const aborted = new Promise<'aborted'>((resolve) => {
          onAbort = () => resolve('aborted')
          signal.addEventListener('abort', onAbort, {once: true})
        })
        const outcome = await Promise.race([result, aborted])
        if (outcome === 'aborted' && signal.aborted) return this.abortedChange(ti, signal.reason, clock())
      }

      return {at: clock(), key: ti.key, startedAt: reportedRunning ? null : startedAt, state: 'success'}
    } catch (error) {
      if (signal.aborted) return this.abortedChange(ti, signal.reason, clock())
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error)
      appendLog(ti.logPath, `${message}\n`)
      const startedAtIfUnreported = reportedRunning ? null : startedAt
      return {at: clock(), exitCode: null, key: ti.key, message: error instanceof Error ? error.message : String(error), reason: 'exception', startedAt: startedAtIfUnreported, state: 'failed'}
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }

  private abortedChange(ti: QueuedTaskInstance, reason: unknown, at: Date): TaskStateChange {
    if (reason === 'timeout') {
      appendLog(ti.logPath, `\nKilled after execution_timeout of ${ti.timeoutMs} ms\n`)
      return {at, exitCode: null, key: ti.key, message: `execution_timeout of ${ti.timeoutMs} ms exceeded`, reason: 'timeout', startedAt: null, state: 'failed'}
    }

    return {at, key: ti.key, state: 'interrupted'}
  }

  private killGroup(pid: number | undefined): void {
    if (pid === undefined) return
    signalGroup(pid, 'SIGTERM')
    setTimeout(() => signalGroup(pid, 'SIGKILL'), this.options.killGraceMs ?? 2000).unref()
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as null | {then?: unknown})?.then === 'function'
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {
    // The group is already gone.
  }
}
