import {mkdirSync, writeFileSync} from 'node:fs'
import {createConnection} from 'node:net'
import {dirname} from 'node:path'

import type {ConnectionOptions, Job, Queue, QueueEvents, QueueEventsProducer} from 'bullmq'

import type {Clock} from '../clock.js'
import {UpdraftError} from '../errors.js'
import type {Executor, QueuedTaskInstance, TaskStateChange} from './executor.js'

/** The one queue updraft uses, under its own key prefix so it shares a Redis with other users. */
export const QUEUE_NAME = 'updraft'
/** The custom queue event that asks the worker holding a job to stop it. */
export const CANCEL_EVENT = 'updraft-cancel'
/** How a worker's refusal of a try whose DAG file differs from the coordinator's begins: its reason is `dag-version-mismatch`. */
export const DAG_VERSION_MISMATCH = 'DAG_VERSION_MISMATCH'
/** How long a cancelled or dropped try may take to report back before the executor stops waiting. */
export const REMOTE_STOP_WAIT_MS = 10_000
/** How long a finished job stays in Redis: a coordinator restarted within it can still read the outcome. */
const KEEP_SECONDS = 7 * 24 * 3600
const CONNECT_TIMEOUT_MS = 3000

/** One try as a worker receives it: everything it needs that is not in its own copy of the DAGs folder. */
export interface JobPayload {
  attempt: QueuedTaskInstance['attempt']
  /** sha256 of the DAG file as the coordinator loaded it; a worker with other code refuses the try. */
  dag_hash: string
  /** Only what differs from the coordinator's own environment: the task's env and its UPDRAFT_* variables. */
  env: Record<string, string>
  timeout_ms: null | number
  v: 1
  work: {command: string; kind: 'bash'} | {context: Record<string, unknown>; kind: 'callable'}
}

/** How a try ended on a worker, as its job's return value. */
export type JobResult =
  | {exit_code: null | number; message: null | string; reason: 'dag-version-mismatch' | 'exception' | 'exit-non-zero' | 'spawn-error' | 'timeout'; state: 'failed'}
  | {state: 'success'}

/** Where Redis is: `redis://host:port[/db]` or `unix:///path/to/socket`. */
export function connectionOf(url: string): ConnectionOptions {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new UpdraftError('USAGE', `Expected --redis-url to be redis://HOST:PORT or unix:///PATH, got "${url}".`, {exit: 2})
  }

  const common = {connectTimeout: CONNECT_TIMEOUT_MS, maxRetriesPerRequest: null}
  if (parsed.protocol === 'unix:') return {...common, path: parsed.pathname}
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new UpdraftError('USAGE', `Expected --redis-url to be redis://HOST:PORT or unix:///PATH, got "${url}".`, {exit: 2})
  }

  return {...common, db: Number(parsed.pathname.slice(1) || 0), host: parsed.hostname || '127.0.0.1', password: parsed.password || undefined, port: Number(parsed.port || 6379)}
}

/** A try's job id: deterministic, so adding it again (after a crash) is a no-op; never `:` and never all digits. */
export function jobIdOf(attempt: QueuedTaskInstance['attempt']): string {
  const part = (text: string) => encodeURIComponent(text).replaceAll(':', '%3A').replaceAll('.', '%2E')
  return ['ti', part(attempt.dag_id), part(attempt.run_id), part(attempt.task_id), String(attempt.try_number)].join('.')
}

/**
 * Waits for Redis at `url`, or fails in a few seconds with a one-line error naming it: a backfill or worker that
 * cannot reach its queue says so before it touches any state.
 */
export async function openQueue(url: string, prefix: string): Promise<{events: QueueEvents; producer: QueueEventsProducer; queue: Queue}> {
  const connection = connectionOf(url)
  // Asked with a plain socket first: a client that cannot connect keeps retrying and keeps the process alive.
  if (!(await answersPing(connection))) {
    throw new UpdraftError('REDIS_UNREACHABLE', `Expected Redis at ${url} to answer within ${CONNECT_TIMEOUT_MS / 1000}s, got no answer; nothing was changed.`, {
      suggestions: ['Start redis-server, or pass --redis-url (or UPDRAFT_REDIS_URL) with its address.'],
    })
  }

  const {Queue, QueueEvents, QueueEventsProducer} = await import('bullmq')
  const queue = new Queue(QUEUE_NAME, {connection, prefix})
  // Events are read from the stream's end as it is now, not from whenever the reader's first blocking read reaches
  // Redis: a worker that takes a job at once would otherwise start it unseen, and the try would read queued.
  const events = new QueueEvents(QUEUE_NAME, {connection, lastEventId: await lastEventIdOf(connection, queue.keys.events as string), prefix})
  const producer = new QueueEventsProducer(QUEUE_NAME, {connection, prefix})
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady(), producer.waitUntilReady()])
  return {events, producer, queue}
}

/** The id of the newest entry of the queue's event stream, or the stream's start while it has none. */
async function lastEventIdOf(connection: ConnectionOptions, key: string): Promise<string> {
  const {Redis} = await import('ioredis')
  // connectionOf builds ioredis options; bullmq's type for them is wider than ioredis's own.
  const client = new Redis(connection as never)
  try {
    const [last] = await client.xrevrange(key, '+', '-', 'COUNT', 1)
    return last?.[0] ?? '0-0'
  } finally {
    client.disconnect()
  }
}

/** Takes a job that no worker holds out of the queue; false when a worker took it first. */
async function removed(job: Job): Promise<boolean> {
  try {
    await job.remove()
    return true
  } catch {
    return false
  }
}

/** Whether Redis answers PING on this connection within the connect timeout. */
function answersPing(connection: ConnectionOptions): Promise<boolean> {
  const target = connection as {host?: string; path?: string; port?: number}
  return new Promise((resolve) => {
    const socket = target.path ? createConnection({path: target.path}) : createConnection({host: target.host ?? '127.0.0.1', port: target.port ?? 6379})
    const done = (answer: boolean) => {
      socket.destroy()
      resolve(answer)
    }

    socket.setTimeout(CONNECT_TIMEOUT_MS, () => done(false))
    socket.once('error', () => done(false))
    socket.once('connect', () => socket.write('PING\r\n'))
    // A server that wants a password answers -NOAUTH: it is there, and the client will authenticate.
    socket.once('data', (data) => done(/^[+-]/.test(data.toString())))
  })
}

interface InFlight {
  jobId: string
  started: boolean
  ti: QueuedTaskInstance
}

/**
 * Runs each try as one BullMQ job on `updraft worker` processes, wherever they are. This process stays the only
 * writer of state: it turns the queue's events into the same state changes the local executor reports, copies
 * each try's log from Redis into the usual log file, and stops remote tries through a custom queue event.
 */
export class BullmqExecutor implements Executor {
  /** Jobs being added or adopted: a stop waits for them, so none is left behind in the queue. */
  private readonly enqueuing = new Set<Promise<void>>()
  private readonly inFlight = new Map<string, InFlight>()
  private readonly listeners = new Set<(change: TaskStateChange) => void>()
  private stopping = false
  private workersChecked: null | Promise<void> = null

  private constructor(
    private readonly options: {baseEnv: Record<string, string>; clock: Clock; dagHash: string; onNotice: (text: string) => void},
    private readonly jobs: Queue,
    private readonly events: QueueEvents,
    private readonly producer: QueueEventsProducer,
  ) {
    events.on('active', ({jobId}) => this.onActive(jobId))
    events.on('completed', ({jobId, returnvalue}) => {
      this.onCompleted(jobId, returnvalue as unknown as JobResult).catch(() => {})
    })
    events.on('failed', ({failedReason, jobId}) => {
      this.onFailed(jobId, failedReason).catch(() => {})
    })
  }

  static async open(options: {baseEnv: Record<string, string>; clock: Clock; dagHash: string; onNotice: (text: string) => void; prefix: string; url: string}): Promise<BullmqExecutor> {
    const {events, producer, queue} = await openQueue(options.url, options.prefix)
    return new BullmqExecutor(options, queue, events, producer)
  }

  onStateChange(listener: (change: TaskStateChange) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  queue(ti: QueuedTaskInstance): void {
    if (this.stopping) {
      this.emit({at: this.options.clock(), key: ti.key, state: 'dropped'})
      return
    }

    const adding = this.enqueue(ti).catch((error: Error) => {
      this.emit({at: this.options.clock(), exitCode: null, key: ti.key, message: error.message, reason: 'spawn-error', startedAt: null, state: 'failed'})
    })
    this.enqueuing.add(adding)
    adding.finally(() => this.enqueuing.delete(adding)).catch(() => {})
  }

  private async enqueue(ti: QueuedTaskInstance): Promise<void> {
    if (ti.adoptTry !== null && (await this.adopt(ti, ti.adoptTry))) return
    const jobId = jobIdOf(ti.attempt)
    this.inFlight.set(jobId, {jobId, started: false, ti})
    const env = Object.fromEntries(Object.entries(ti.env).filter(([name, value]) => this.options.baseEnv[name] !== value))
    const payload: JobPayload = {
      attempt: ti.attempt,
      dag_hash: this.options.dagHash,
      env,
      timeout_ms: ti.timeoutMs,
      v: 1,
      // A callable cannot travel; the worker takes it from its own copy of the DAG and gets the context.
      work: ti.work.kind === 'bash' ? ti.work : {context: ti.work.context as unknown as Record<string, unknown>, kind: 'callable'},
    }
    await this.jobs.add('ti', payload, {attempts: 1, jobId, removeOnComplete: {age: KEEP_SECONDS}, removeOnFail: {age: KEEP_SECONDS}})
    await this.checkWorkers()
  }

  /**
   * Takes over the try a dead coordinator left behind, if Redis still has it waiting, running or done: its
   * outcome becomes this try's, and nothing runs twice. A try that failed or expired is run again.
   */
  private async adopt(ti: QueuedTaskInstance, adopted: NonNullable<QueuedTaskInstance['adoptTry']>): Promise<boolean> {
    const jobId = jobIdOf({...ti.attempt, try_number: adopted.tryNumber})
    const job = await this.jobs.getJob(jobId)
    const state = job ? await job.getState() : 'missing'
    if (!job || !['active', 'completed', 'delayed', 'prioritized', 'waiting'].includes(state)) return false
    // A try that never started is not worth keeping: taken out of the queue, it is run afresh as this backfill's.
    if (state !== 'active' && state !== 'completed' && (await removed(job))) return false
    const own = {...ti, logPath: adopted.logPath}
    this.inFlight.set(jobId, {jobId, started: false, ti: own})
    this.emit({at: this.options.clock(), key: ti.key, state: 'adopted', tryNumber: adopted.tryNumber})
    // Events between the look and the registration would be lost, so the job is asked again once registered.
    const now = await job.getState()
    if (now === 'completed') await this.onCompleted(jobId, (await this.jobs.getJob(jobId))?.returnvalue as JobResult)
    else if (now === 'failed') await this.onFailed(jobId, (await this.jobs.getJob(jobId))?.failedReason ?? 'failed')
    else if (now === 'active') this.onActive(jobId, new Date(job.processedOn ?? this.options.clock().getTime()))
    return true
  }

  async shutdown(mode: 'drain' | 'kill'): Promise<void> {
    if (mode === 'kill') {
      this.stopping = true
      await Promise.allSettled(this.enqueuing)
      // Waiting jobs go first: a try cancelled on a worker frees its slot, which the worker would fill with the next.
      const taken: InFlight[] = []
      for (const entry of [...this.inFlight.values()]) if (!(await this.dropWaiting(entry))) taken.push(entry)
      for (const entry of taken) await this.producer.publishEvent({eventName: CANCEL_EVENT, jobId: entry.jobId})
    }

    const started = this.options.clock().getTime()
    while (this.inFlight.size > 0 && this.options.clock().getTime() - started < REMOTE_STOP_WAIT_MS) {
      await new Promise((resolve) => {
        setTimeout(resolve, 20)
      })
    }

    for (const entry of [...this.inFlight.values()]) this.settle(entry.jobId, {at: this.options.clock(), key: entry.ti.key, state: 'interrupted'})
    await Promise.allSettled([this.events.close(), this.producer.close(), this.jobs.close()])
  }

  killNow(): void {
    this.stopping = true
    for (const entry of this.inFlight.values()) this.producer.publishEvent({eventName: CANCEL_EVENT, jobId: entry.jobId}).catch(() => {})
  }

  /** Removes the job if no worker has taken it (the try never happened); false when one has. */
  private async dropWaiting(entry: InFlight): Promise<boolean> {
    const job = await this.jobs.getJob(entry.jobId)
    const state = job ? await job.getState() : 'unknown'
    if (!job || !(state === 'waiting' || state === 'delayed' || state === 'prioritized') || !(await removed(job))) return false
    this.settle(entry.jobId, {at: this.options.clock(), key: entry.ti.key, state: 'dropped'})
    return true
  }

  /** Asked once per backfill, when its first job is queued: the notice is about the queue, not about each job. */
  private checkWorkers(): Promise<void> {
    this.workersChecked ??= this.jobs.getWorkersCount().then((count) => {
      if (count === 0) this.options.onNotice('NO_WORKERS: no updraft worker is connected to the queue; task instances wait until one starts (updraft worker --redis-url …).')
    })
    return this.workersChecked
  }

  private onActive(jobId: string, at = this.options.clock()): void {
    const entry = this.inFlight.get(jobId)
    if (!entry || entry.started) return
    entry.started = true
    this.emit({at, key: entry.ti.key, pid: null, state: 'running'})
  }

  private async onCompleted(jobId: string, result: JobResult): Promise<void> {
    const entry = this.inFlight.get(jobId)
    if (!entry) return
    await this.copyLog(entry)
    const {at, startedAt} = await this.timesOf(entry)
    if (result.state === 'success') this.settle(jobId, {at, key: entry.ti.key, startedAt, state: 'success'})
    else this.settle(jobId, {at, exitCode: result.exit_code, key: entry.ti.key, message: result.message, reason: result.reason, startedAt, state: 'failed'})
  }

  private async onFailed(jobId: string, failedReason: string): Promise<void> {
    const entry = this.inFlight.get(jobId)
    if (!entry) return
    await this.copyLog(entry)
    const {at, startedAt} = await this.timesOf(entry)
    if (failedReason === 'interrupted' && this.stopping) {
      this.settle(jobId, {at, key: entry.ti.key, state: 'interrupted'})
      return
    }

    // A worker that stopped renewing its lock (killed, cut off) has its job failed as stalled, and BullMQ never runs
    // it again; a worker that was shut down before the try finished cancelled it. Either way the try is lost.
    const lost = /stalled/i.test(failedReason) || failedReason === 'interrupted'
    const message = lost ? `worker lost: ${failedReason}` : failedReason
    this.appendLog(entry, `\n${message}\n`)
    const reason = lost ? 'worker-lost' : failedReason.startsWith(`${DAG_VERSION_MISMATCH}:`) ? 'dag-version-mismatch' : 'exception'
    this.settle(jobId, {at, exitCode: null, key: entry.ti.key, message, reason, startedAt, state: 'failed'})
  }

  /**
   * When a try ended, and when it started if that was never reported (it ran before this process listened, or
   * under a coordinator that is gone): the worker's own times, so its duration is the one it ran.
   */
  private async timesOf(entry: InFlight): Promise<{at: Date; startedAt: Date | null}> {
    const now = this.options.clock()
    const job = await this.jobs.getJob(entry.jobId).catch(() => undefined)
    const at = job?.finishedOn ? new Date(job.finishedOn) : now
    if (entry.started) return {at, startedAt: null}
    return {at, startedAt: job?.processedOn ? new Date(job.processedOn) : at}
  }

  /** Copies the try's output, written on the worker with `job.log`, into the log file the coordinator names. */
  private async copyLog(entry: InFlight): Promise<void> {
    try {
      // Written even when empty: a try that printed nothing still has a log, as it would have run locally.
      const {logs} = await this.jobs.getJobLogs(entry.jobId)
      this.appendLog(entry, logs.join(''))
    } catch {
      // No log is not an outcome; the try's state still is.
    }
  }

  private appendLog(entry: InFlight, text: string): void {
    mkdirSync(dirname(entry.ti.logPath), {recursive: true})
    writeFileSync(entry.ti.logPath, text, {flag: 'a'})
  }

  private settle(jobId: string, change: TaskStateChange): void {
    if (!this.inFlight.delete(jobId)) return
    this.emit(change)
  }

  private emit(change: TaskStateChange): void {
    for (const listener of this.listeners) listener(change)
  }
}
