import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'

import type {Job} from 'bullmq'

import type {Clock} from '../clock.js'
import type {TaskContext} from '../dag/model.js'
import {dagHashOf} from '../loader/dag-hash.js'
import {loadDag} from '../loader/load-dags.js'
import {CANCEL_EVENT, connectionOf, DAG_VERSION_MISMATCH, type JobPayload, type JobResult, openQueue, QUEUE_NAME} from './bullmq-executor.js'
import type {TaskStateChange} from './executor.js'
import {LocalExecutor} from './local-executor.js'
import {SpawnServer, type Spawner} from './spawn-server.js'

/** What a worker needs from the process that runs it. */
export interface WorkerOptions {
  baseEnv: Record<string, string>
  clock: Clock
  concurrency: number
  dagsFolder: string
  host: string
  /** How long a job's lock lives without renewal; a worker silent for longer is lost. */
  lockDurationMs: number
  onLine: (text: string) => void
  /** Problems that do not stop the worker, one line each, for stderr. */
  onProblem: (text: string) => void
  pid: number
  prefix: string
  /** Time a stopping worker gives its running tries before it cancels them. */
  shutdownGraceMs: number
  stalledIntervalMs: number
  url: string
}

/** How long closing a connection may take once the grace is over. */
const CLOSE_WAIT_MS = 2000

/** Whether `promise` settled within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms)
  })
  const settled = await Promise.race([promise.then(() => true, () => true), late])
  clearTimeout(timer)
  return settled
}

/** Log rows are sent in pieces no larger than this. */
const LOG_PIECE = 64 * 1024

/**
 * Runs tries from the queue until `stop` is aborted: each in a one-try local executor over a shared spawn
 * server, which kills every process group it started if this process dies, so a lost worker leaves nothing
 * running. BullMQ never hands a stalled job to another worker (`maxStalledCount: 0`); the coordinator records it
 * as `worker-lost` and retries it as a new try. Resolves whether Redis answered while the worker stopped: when it
 * did not, the Redis client may still hold retry timers, and the caller must end the process itself.
 */
export async function runWorker(options: WorkerOptions, stop: AbortSignal): Promise<boolean> {
  const {UnrecoverableError, Worker} = await import('bullmq')
  const {events, producer, queue} = await openQueue(options.url, options.prefix)
  const spawner = new SpawnServer(options.baseEnv, options.concurrency)
  // Each try gets its own executor so a cancel stops that try alone; the spawn server outlives them all.
  const shared: Spawner = {bounded: spawner.bounded, cancelWaiting: () => {}, close: () => {}, run: (request, onStart) => spawner.run(request, onStart)}
  const logs = mkdtempSync(join(tmpdir(), 'updraft-worker-'))
  const name = `${options.host}:${options.pid}`

  const processor = async (job: Job<JobPayload>, _token?: string, signal?: AbortSignal): Promise<JobResult> => {
    const payload = job.data
    const dag = await loadDag(options.dagsFolder, payload.attempt.dag_id)
    const hash = dagHashOf(dag.fileloc)
    if (hash !== payload.dag_hash) {
      throw new UnrecoverableError(`${DAG_VERSION_MISMATCH}: DAG ${dag.dagId} hashes ${payload.dag_hash.slice(0, 12)} on the coordinator and ${hash.slice(0, 12)} on worker ${name}`)
    }

    const task = dag.tasks.find((candidate) => candidate.taskId === payload.attempt.task_id)
    if (!task) throw new UnrecoverableError(`${DAG_VERSION_MISMATCH}: task ${payload.attempt.task_id} is not in DAG ${dag.dagId} on worker ${name}`)
    const logPath = join(logs, `${job.id}.log`)
    const executor = new LocalExecutor({clock: options.clock, parallelism: 1, spawner: shared})
    const ended = new Promise<TaskStateChange>((resolve) => {
      executor.onStateChange((change) => {
        if (change.state !== 'running') resolve(change)
      })
    })
    const stopTry = () => {
      executor.shutdown('kill').catch(() => {})
    }

    signal?.addEventListener('abort', stopTry, {once: true})
    executor.queue({
      adoptTry: null,
      attempt: payload.attempt,
      cwd: dirname(dag.fileloc),
      env: {...options.baseEnv, ...payload.env},
      key: String(job.id),
      logPath,
      timeoutMs: payload.timeout_ms,
      work:
        payload.work.kind === 'bash' || task.callable === null
          ? {command: payload.work.kind === 'bash' ? payload.work.command : '', kind: 'bash'}
          : {callable: task.callable, context: payload.work.context as unknown as Omit<TaskContext, 'signal'>, kind: 'callable'},
    })
    const change = await ended
    signal?.removeEventListener('abort', stopTry)
    await sendLog(job, logPath)
    rmSync(logPath, {force: true})
    switch (change.state) {
      case 'success': {
        return {state: 'success'}
      }

      case 'failed': {
        if (change.reason === 'worker-lost') throw new UnrecoverableError(change.message ?? 'worker lost')
        return {exit_code: change.exitCode, message: change.message, reason: change.reason, state: 'failed'}
      }

      case 'adopted':
      case 'dropped':
      case 'interrupted':
      case 'running': {
        throw new UnrecoverableError('interrupted')
      }
    }
  }

  const worker = new Worker<JobPayload, JobResult>(QUEUE_NAME, processor, {
    concurrency: options.concurrency,
    connection: connectionOf(options.url),
    lockDuration: options.lockDurationMs,
    maxStalledCount: 0,
    name,
    prefix: options.prefix,
    stalledInterval: options.stalledIntervalMs,
  })
  // One line per distinct problem: a Redis that went away is reported by every connection on every retry.
  const reported = new Set<string>()
  const report = (error: Error) => {
    const line = `Problem: Redis at ${options.url}: ${error.message}`
    if (reported.has(line)) return
    reported.add(line)
    options.onProblem(line)
  }

  for (const emitter of [worker, events, producer, queue] as Array<{on: (event: 'error', listener: (error: Error) => void) => unknown}>) emitter.on('error', report)
  worker.on('lockRenewalFailed', (jobIds: string[]) => {
    // Cut off from Redis: the coordinator will count these tries as lost, so they must not go on here.
    for (const jobId of jobIds) worker.cancelJob(jobId, 'interrupted')
  })
  events.on(CANCEL_EVENT as 'error', ((args: {jobId: string}) => worker.cancelJob(args.jobId, 'interrupted')) as never)
  await worker.waitUntilReady()
  options.onLine(`Worker ${name} is taking task instances from ${options.url} (concurrency ${options.concurrency}).`)

  await new Promise<void>((resolve) => {
    if (stop.aborted) resolve()
    else stop.addEventListener('abort', () => resolve(), {once: true})
  })
  options.onLine(`Stopping: waiting up to ${options.shutdownGraceMs / 1000}s for running task instances…`)
  const graceOver = setTimeout(() => worker.cancelAllJobs('interrupted'), options.shutdownGraceMs)
  // Closing talks to Redis; without it, it never ends. Past the grace (and a moment for cancelled tries to report),
  // the connections are dropped and the spawn server stops whatever still runs.
  const closed = await settlesWithin(worker.close(), options.shutdownGraceMs + CLOSE_WAIT_MS)
  clearTimeout(graceOver)
  if (closed) await settlesWithin(Promise.allSettled([events.close(), producer.close(), queue.close()]), CLOSE_WAIT_MS)
  else options.onProblem(`Problem: Redis at ${options.url} did not answer while stopping; leaving without it.`)
  for (const connected of [worker, events, producer, queue]) connected.disconnect().catch(() => {})
  spawner.close()
  rmSync(logs, {force: true, recursive: true})
  return closed
}

/** Sends a try's output to its job, in rows of at most LOG_PIECE characters. */
async function sendLog(job: Job, logPath: string): Promise<void> {
  let text = ''
  try {
    text = readFileSync(logPath, 'utf8')
  } catch {
    return
  }

  for (let start = 0; start < text.length; start += LOG_PIECE) {
    await job.log(text.slice(start, start + LOG_PIECE))
  }
}
