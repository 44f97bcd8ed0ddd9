import type {TaskCallable, TaskContext} from '../dag/model.js'
import type {UpdraftError} from '../errors.js'

/** What an executor needs to run one try of a task instance; the apply loop has decided everything else. */
export interface QueuedTaskInstance {
  /** Which try this is, for an executor that names its work (a job id) or hands it to another machine. */
  attempt: {dag_id: string; run_id: string; task_id: string; try_number: number}
  /**
   * The try a process that is gone left queued or running, when this instance was recovered from it: an executor
   * whose tries outlive that process (on workers) takes that try's outcome instead of running it again.
   */
  adoptTry: null | {logPath: string; tryNumber: number}
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
  | {at: Date; exitCode: null | number; key: string; message: null | string; reason: 'dag-version-mismatch' | 'exception' | 'exit-non-zero' | 'spawn-error' | 'timeout' | 'worker-lost'; startedAt: Date | null; state: 'failed'}
  | {at: Date; key: string; state: 'interrupted'}
  /** The try is the one a process that is gone left queued or running (see `adoptTry`), not a new one. */
  | {at: Date; key: string; state: 'adopted'; tryNumber: number}
  /** Stopped before it started: the try never happened. `unwritable` when that was because its log could not be opened. */
  | {at: Date; key: string; state: 'dropped'; unwritable?: UpdraftError}
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
  /** For a second Ctrl-C: stops every running try at once, without waiting. */
  killNow(): void
}
