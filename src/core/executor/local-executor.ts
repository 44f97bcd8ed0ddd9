import {spawn} from 'node:child_process'
import {closeSync, mkdirSync, openSync, writeSync} from 'node:fs'
import {dirname} from 'node:path'

import PQueue from 'p-queue'

import type {Clock} from '../clock.js'
import type {Executor, QueuedTaskInstance, TaskStateChange} from './executor.js'

/** Settings of the local executor. */
export interface LocalExecutorOptions {
  clock: Clock
  /** Time a terminated process group gets between SIGTERM and SIGKILL. */
  killGraceMs?: number
  parallelism: number
}

interface Running {
  abort: AbortController
  pid: null | number
}

/**
 * Runs bash tasks as `/bin/sh -c` children, each the leader of its own process group so a timeout or an
 * interrupt reaches its descendants too, and callables in-process; p-queue keeps at most `parallelism` running.
 */
export class LocalExecutor implements Executor {
  private readonly listeners = new Set<(change: TaskStateChange) => void>()
  private readonly pool: PQueue
  private readonly running = new Map<string, Running>()
  private stopping = false

  constructor(private readonly options: LocalExecutorOptions) {
    this.pool = new PQueue({concurrency: options.parallelism})
  }

  onStateChange(listener: (change: TaskStateChange) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  queue(ti: QueuedTaskInstance): void {
    this.pool
      .add(async () => {
        if (!this.stopping) await this.execute(ti)
      })
      .catch(() => {})
  }

  async shutdown(mode: 'drain' | 'kill'): Promise<void> {
    if (mode === 'kill') {
      this.stopping = true
      this.pool.clear()
      for (const running of this.running.values()) running.abort.abort('interrupted')
    }

    await this.pool.onIdle()
  }

  private emit(change: TaskStateChange): void {
    for (const listener of this.listeners) listener(change)
  }

  private async execute(ti: QueuedTaskInstance): Promise<void> {
    const abort = new AbortController()
    const running: Running = {abort, pid: null}
    this.running.set(ti.key, running)
    const timer = ti.timeoutMs === null ? undefined : setTimeout(() => abort.abort('timeout'), ti.timeoutMs)
    try {
      const outcome = ti.work.kind === 'bash' ? await this.runShell(ti, ti.work.command, running) : await this.runCallable(ti, abort.signal)
      this.emit(outcome)
    } finally {
      if (timer) clearTimeout(timer)
      this.running.delete(ti.key)
    }
  }

  private async runShell(ti: QueuedTaskInstance, command: string, running: Running): Promise<TaskStateChange> {
    const {clock} = this.options
    mkdirSync(dirname(ti.logPath), {recursive: true})
    const log = openSync(ti.logPath, 'a')
    try {
      // Output goes straight to the log file descriptor, so a chatty task never streams through this process.
      const child = spawn('/bin/sh', ['-c', command], {cwd: ti.cwd, detached: true, env: ti.env, stdio: ['ignore', log, log]})
      const exit = new Promise<{code: null | number; error: Error | null; signal: NodeJS.Signals | null}>((resolve) => {
        child.once('error', (error) => resolve({code: null, error, signal: null}))
        child.once('exit', (code, signal) => resolve({code, error: null, signal}))
      })
      running.pid = child.pid ?? null
      this.emit({at: clock(), key: ti.key, pid: running.pid, state: 'running'})
      const stopGroup = () => this.killGroup(child.pid)
      running.abort.signal.addEventListener('abort', stopGroup, {once: true})
      const result = await exit
      running.abort.signal.removeEventListener('abort', stopGroup)
      const at = clock()
      if (running.abort.signal.aborted) return this.abortedChange(ti, running.abort.signal.reason, at)
      if (result.error) {
        writeSync(log, `\n${result.error.message}\n`)
        return {at, exitCode: null, key: ti.key, message: result.error.message, reason: 'spawn-error', state: 'failed'}
      }

      if (result.code !== 0) {
        const message = result.signal ? `killed by ${result.signal}` : `exit code ${result.code}`
        return {at, exitCode: result.code, key: ti.key, message, reason: 'exit-non-zero', state: 'failed'}
      }

      return {at, key: ti.key, state: 'success'}
    } finally {
      closeSync(log)
    }
  }

  private async runCallable(ti: QueuedTaskInstance, signal: AbortSignal): Promise<TaskStateChange> {
    const {clock} = this.options
    if (ti.work.kind !== 'callable') throw new Error('runCallable needs a callable')
    this.emit({at: clock(), key: ti.key, pid: null, state: 'running'})
    const {callable, context} = ti.work
    // A callable that ignores its signal cannot be stopped, so the race lets a timeout or interrupt end the try.
    const aborted = new Promise<'aborted'>((resolve) => {
      signal.addEventListener('abort', () => resolve('aborted'), {once: true})
    })
    try {
      const outcome = await Promise.race([Promise.resolve().then(() => callable({...context, signal})), aborted])
      if (outcome === 'aborted' && signal.aborted) return this.abortedChange(ti, signal.reason, clock())
      return {at: clock(), key: ti.key, state: 'success'}
    } catch (error) {
      if (signal.aborted) return this.abortedChange(ti, signal.reason, clock())
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error)
      appendLog(ti.logPath, `${message}\n`)
      return {at: clock(), exitCode: null, key: ti.key, message: error instanceof Error ? error.message : String(error), reason: 'exception', state: 'failed'}
    }
  }

  private abortedChange(ti: QueuedTaskInstance, reason: unknown, at: Date): TaskStateChange {
    if (reason === 'timeout') {
      appendLog(ti.logPath, `\nKilled after execution_timeout of ${ti.timeoutMs} ms\n`)
      return {at, exitCode: null, key: ti.key, message: `execution_timeout of ${ti.timeoutMs} ms exceeded`, reason: 'timeout', state: 'failed'}
    }

    return {at, key: ti.key, state: 'interrupted'}
  }

  private killGroup(pid: number | undefined): void {
    if (pid === undefined) return
    const signalGroup = (signal: NodeJS.Signals) => {
      try {
        process.kill(-pid, signal)
      } catch {
        // The group is already gone.
      }
    }

    signalGroup('SIGTERM')
    setTimeout(() => signalGroup('SIGKILL'), this.options.killGraceMs ?? 2000).unref()
  }
}

function appendLog(path: string, text: string): void {
  mkdirSync(dirname(path), {recursive: true})
  const fd = openSync(path, 'a')
  try {
    writeSync(fd, text)
  } finally {
    closeSync(fd)
  }
}
