import type {TaskCallable, TaskContext} from '../dag/model.js'

/** What an executor needs to run one try of a task instance; the apply loop has decided everything else. */
export interface QueuedTaskInstance {
  /** Either a rendered shell command or an in-process callable with its context. */
  work: {command: string; kind: 'bash'} | {callable: TaskCallable; context: Omit<TaskContext, 'signal'>; kind: 'callable'}
  cwd: string
  env: Record<string, string>
  /** Identifies the instance in state changes. */
  key: string
  logPath: string
  timeoutMs: null | number
}

/**
 * How a try ended, or that it started. A try that ended within the call that started it (a callable that returned
 * at once) reports no `running`; its end carries `startedAt` instead, which is null otherwise.
 */
export type TaskStateChange =
  | {at: Date; key: string; pid: null | number; state: 'running'}
  | {at: Date; exitCode: null | number; key: string; message: null | string; reason: 'exception' | 'exit-non-zero' | 'spawn-error' | 'timeout'; startedAt: Date | null; state: 'failed'}
  | {at: Date; key: string; state: 'interrupted'}
  /** Stopped before it started: the try never happened. */
  | {at: Date; key: string; state: 'dropped'}
  | {at: Date; key: string; startedAt: Date | null; state: 'success'}

/** Runs task instances it is given; it decides nothing about order, retries or state. */
export interface Executor {
  onStateChange(listener: (change: TaskStateChange) => void): () => void
  queue(ti: QueuedTaskInstance): void
  /**
   * `drain` waits for queued work; `kill` terminates running work (reported as `interrupted`) and drops the queue
   * (each reported as `dropped`).
   */
  shutdown(mode: 'drain' | 'kill'): Promise<void>
}
