import type {TimerHandle, Timers} from '../../src/core/clock.js'
import type {Executor, QueuedTaskInstance, TaskStateChange} from '../../src/core/executor/executor.js'

type Outcome = 'fail' | 'success'

/**
 * Finishes each queued instance on the next tick with a scripted outcome (by task id and try), recording the
 * order in which instances started. `hold` keeps matching instances running until `release()` is called.
 */
export class FakeExecutor implements Executor {
  readonly started: string[] = []
  private readonly listeners = new Set<(change: TaskStateChange) => void>()
  private readonly held: QueuedTaskInstance[] = []

  constructor(
    private readonly outcome: (taskId: string, tryNumber: number, ti: QueuedTaskInstance) => Outcome = () => 'success',
    private readonly hold: (ti: QueuedTaskInstance) => boolean = () => false,
  ) {}

  onStateChange(listener: (change: TaskStateChange) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  queue(ti: QueuedTaskInstance): void {
    setImmediate(() => {
      this.started.push(ti.key.replace('\u0000', ' '))
      const held = this.hold(ti)
      if (held) this.held.push(ti)
      this.emit({at: new Date(0), key: ti.key, pid: 1, state: 'running'})
      if (!held) this.finish(ti)
    })
  }

  release(): void {
    for (const ti of this.held.splice(0)) this.finish(ti)
  }

  async shutdown(mode: 'drain' | 'kill'): Promise<void> {
    if (mode === 'kill') for (const ti of this.held.splice(0)) this.emit({at: new Date(0), key: ti.key, state: 'interrupted'})
  }

  killNow(): void {
    this.held.splice(0)
  }

  private emit(change: TaskStateChange): void {
    for (const listener of this.listeners) listener(change)
  }

  private finish(ti: QueuedTaskInstance): void {
    const taskId = ti.key.split('\u0000')[1] as string
    const tryNumber = Number(ti.env.UPDRAFT_TRY_NUMBER)
    if (this.outcome(taskId, tryNumber, ti) === 'success') this.emit({at: new Date(0), key: ti.key, startedAt: null, state: 'success'})
    else this.emit({at: new Date(0), exitCode: 1, key: ti.key, message: 'exit code 1', reason: 'exit-non-zero', startedAt: null, state: 'failed'})
  }
}

/** A clock that moves one second forward on every read, so recorded times are distinct and ordered. */
export function steppingClock(start = '2026-01-01T00:00:00.000Z'): () => Date {
  let now = new Date(start).getTime()
  return () => new Date((now += 1000))
}

/** The system's timers, for tests that let retry delays and pool polls pass in real time. */
export const realTimers: Timers = {
  clearTimeout: (handle) => clearTimeout(handle.timer as NodeJS.Timeout),
  setTimeout: (callback, ms) => ({timer: setTimeout(callback, ms)}),
}

/** Timers that fire only when the test moves time on, so a ten-minute retry delay passes at once. */
export class ManualTimers implements Timers {
  private now = 0
  private readonly pending = new Set<{at: number; callback: () => void; timer: unknown}>()

  clearTimeout(handle: TimerHandle): void {
    this.pending.delete(handle as {at: number; callback: () => void; timer: unknown})
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const entry = {at: this.now + ms, callback, timer: null}
    this.pending.add(entry)
    return entry
  }

  /** Delays asked for so far that have not fired, in ms. */
  get waiting(): number[] {
    return [...this.pending].map((entry) => entry.at - this.now)
  }

  advance(ms: number): void {
    this.now += ms
    for (const entry of [...this.pending].sort((a, b) => a.at - b.at)) {
      if (entry.at > this.now) continue
      this.pending.delete(entry)
      entry.callback()
    }
  }
}
