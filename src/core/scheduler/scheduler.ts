import type {Dag, Sensor, SensorContext, SensorRequest} from '../dag/model.js'
import {isUpdraftError} from '../errors.js'
import type {BackfillListener} from '../events.js'
import {allSucceeded, type BackfillSummary} from '../executor/backfill-summary.js'
import {loadDagBag} from '../loader/load-dags.js'
import {runLabel} from '../run/run-spec.js'
import {parseDateTime} from '../schedule/logical-date.js'
import {labelerFor} from '../schedule/resolve-dates.js'
import {BackfillSession, giveBackRequest, type RunSettings, type SessionContext, settingsOf, takeRequest, UNTAKEN} from '../session/backfill-session.js'
import {selectionText} from '../state/backfills.js'
import {backfillRequestOf, launchBackfill} from '../session/launch.js'
import {openSharedStore, type RecordedBackfills} from '../state/readers.js'
import {StateSnapshots} from '../state/state-snapshots.js'
import {announceScheduler, schedulerOwnerId, withdrawScheduler} from './presence.js'
import {dueRange} from './due-runs.js'

/** How often a running scheduler renews its presence: well within the 30 s lease a database gives it, not every pass. */
const PRESENCE_RENEW_MS = 10_000

/** What the scheduler needs from the process that runs it; `clock` is its only source of "now". */
export interface SchedulerOptions {
  context: SessionContext & {dagsFolder: string}
  executor: RunSettings['executor']
  parallelism: number
  /** One line per launch and finish. */
  report: (line: string) => void
  /** One line per problem: a sensor that threw, a launch refused, a DAG file that does not load, work not started. */
  reportProblem: (line: string) => void
}

/** Work waiting for its DAG: one backfill or set of scheduled runs at a time per DAG, as the DAG's lock allows. */
type Work = {deadPid: number; host: string; id: number; kind: 'request'} | {kind: 'scheduled'} | {key: string; kind: 'sensor'; request: SensorRequest; sensor: Sensor}

/**
 * `updraft scheduler` (README "Running the scheduler"): evaluates sensors on their intervals and launches the backfills they ask for, and
 * starts each due interval of every unpaused DAG as `scheduled__<date>` runs. Everything it starts goes through
 * the same backfill session as the CLI, so the state rules are the same. It never reads the wall clock: each
 * `evaluate()` uses the context's clock, so tests drive time.
 */
export class Scheduler {
  private readonly active = new Map<string, Promise<void>>()
  private dags = new Map<string, Dag>()
  private failures = 0
  private launches = 0
  /** The requests sensors made, by the backfill they launched. */
  private readonly requests = new Map<number, SensorRequest>()
  /** Sensor requests queued or running, by sensor and request: the same one is not launched twice at once. */
  private readonly inFlight = new Set<string>()
  private readonly queues = new Map<string, Work[]>()
  /** Requests (README "Requests and the scheduler") queued here or running: each is taken once. */
  private readonly requestsHere = new Set<number>()
  private readonly reportedErrors = new Set<string>()
  private readonly sensorDueAt = new Map<string, number>()
  private readonly sessions = new Set<BackfillSession>()
  private readonly snapshots: StateSnapshots
  private interrupted = false
  /** When this scheduler last said in the store that it runs (ms). */
  private announcedAt = Number.NEGATIVE_INFINITY

  constructor(
    private readonly options: SchedulerOptions,
    private readonly signal: AbortSignal,
  ) {
    this.snapshots = new StateSnapshots(options.context)
  }

  /** How many launches failed, were refused, or ended with a task instance not successful; and sensors that threw. */
  get failed(): number {
    return this.failures
  }

  /** How many backfills and sets of scheduled runs this scheduler started. */
  get started(): number {
    return this.launches
  }

  /** Whether a stop request cut short something this scheduler had started. */
  get stoppedWork(): boolean {
    return this.interrupted
  }

  /**
   * One pass: registers DAGs seen for the first time (paused if they say `is_paused_upon_creation`), polls each
   * sensor whose interval has passed (every sensor with `allSensors`), queues each unpaused DAG's due runs, and
   * starts what its DAG's turn allows. Launched work goes on in the background; `idle()` waits for it.
   */
  async evaluate(options: {allSensors?: boolean} = {}): Promise<void> {
    const {context} = this.options
    const now = context.clock()
    const bag = await loadDagBag(context.dagsFolder)
    for (const error of bag.errors) this.reportOnce(`${error.file}: ${error.message}`)
    this.dags = new Map(bag.dags.map((dag) => [dag.dagId, dag]))
    if (now.getTime() - this.announcedAt >= PRESENCE_RENEW_MS) {
      await announceScheduler(await openSharedStore(context), schedulerOwnerId(context.process))
      this.announcedAt = now.getTime()
    }

    const recorded = await this.snapshots.current()
    let {settings} = recorded
    const unseen = bag.dags.filter((dag) => settings[dag.dagId] === undefined)
    if (unseen.length > 0) {
      settings = await (await openSharedStore(context)).updateDagSettings((current) => {
        for (const dag of unseen) current[dag.dagId] ??= {is_paused: dag.isPausedUponCreation}
      })
    }

    for (const dag of bag.dags) {
      if (settings[dag.dagId]?.is_paused) continue
      for (const sensor of dag.sensors) {
        const id = `${dag.dagId}/${sensor.sensorId}`
        if (!options.allSensors && now.getTime() < (this.sensorDueAt.get(id) ?? 0)) continue
        this.sensorDueAt.set(id, now.getTime() + sensor.everyMs)
        await this.poll(dag, sensor, now, recorded)
      }

      const range = dueRange(dag, recorded.summaries[dag.dagId]?.last_scheduled ?? null, now)
      const queue = this.queueOf(dag.dagId)
      if (range !== null && !queue.some((work) => work.kind === 'scheduled')) queue.push({kind: 'scheduled'})
    }

    // Requests, oldest first, whether or not their DAG is paused: pausing a DAG stops its schedule only (README
    // "Requests and the scheduler"). A request whose process died (a scheduler killed or restarted) is carried on.
    for (const record of [...recorded.records].sort((a, b) => a.id - b.id)) {
      // Read as interrupted also between another scheduler taking it and owning its runs: only a pid that is
      // gone (on this host) makes it an orphan here.
      const {process} = this.options.context
      const orphaned = record.origin === 'request' && record.state === 'interrupted' && !(record.host === process.host && process.isAlive(record.pid))
      if ((record.state !== 'queued' && !orphaned) || this.requestsHere.has(record.id) || !this.dags.has(record.dag_id)) continue
      this.requestsHere.add(record.id)
      this.queueOf(record.dag_id).push({deadPid: orphaned ? record.pid : 0, host: record.host, id: record.id, kind: 'request'})
    }

    this.startWhatCan()
  }

  /** Lets go of the state store once the scheduler is done. */
  async close(): Promise<void> {
    const {context} = this.options
    await withdrawScheduler(await openSharedStore(context), schedulerOwnerId(context.process)).catch(() => {})
    await this.snapshots.close()
  }

  /** Resolves once nothing is queued or running. */
  async idle(): Promise<void> {
    while (this.active.size > 0) await Promise.all(this.active.values())
  }

  /** Work still waiting for its DAG's turn when `--once` ends; each is reported and counted as failed. */
  reportUnstarted(): void {
    for (const [dagId, queue] of this.queues) {
      for (const work of queue.splice(0)) this.problem(`${dagId}: ${describeWork(dagId, work)} did not start: the scheduler stopped first`)
    }
  }

  /** For a second Ctrl-C: kills what the sessions run at once, without waiting. */
  forceStop(): void {
    for (const session of this.sessions) session.forceStop()
  }

  private async poll(dag: Dag, sensor: Sensor, now: Date, recorded: RecordedBackfills): Promise<void> {
    const id = `${dag.dagId}/${sensor.sensorId}`
    let request: null | SensorRequest | undefined
    try {
      request = await sensor.poll({dag_id: dag.dagId, last: this.lastLaunchOf(dag, sensor, recorded), now: now.toISOString(), sensor_id: sensor.sensorId})
    } catch (error) {
      this.problem(`sensor ${id} failed: ${(error as Error)?.message ?? String(error)}; polled again in ${sensor.everyMs / 1000} s`)
      return
    }

    if (request === null || request === undefined) return
    if (typeof request !== 'object' || Array.isArray(request)) {
      this.problem(`sensor ${id} returned ${JSON.stringify(request)}; expected a request object (start/end, dates or partitions, …) or null`)
      return
    }

    const key = `${id}\n${stableJson(request)}`
    if (this.inFlight.has(key)) {
      this.options.report(`sensor ${id} asked again for a backfill it launched that is still running; not launched again`)
      return
    }

    this.inFlight.add(key)
    this.queueOf(dag.dagId).push({key, kind: 'sensor', request, sensor})
  }

  /**
   * The sensor's previous launch: the newest record tagged with it. Its request (as the sensor made it when this
   * process launched it, else as recorded) is given both spread out and under `request`, with `backfill_id` and
   * `state`, so `last.dates` and `last.request.dates` both read it.
   */
  private lastLaunchOf(dag: Dag, sensor: Sensor, recorded: RecordedBackfills): SensorContext['last'] {
    const record = recorded.records.find((candidate) => candidate.dag_id === dag.dagId && candidate.request.tags?.sensor === sensor.sensorId)
    if (!record) return null
    const request = {...(this.requests.get(record.id) ?? record.request)}
    return {...request, backfill_id: record.id, request, state: record.state}
  }

  private queueOf(dagId: string): Work[] {
    let queue = this.queues.get(dagId)
    if (!queue) this.queues.set(dagId, (queue = []))
    return queue
  }

  private startWhatCan(): void {
    for (const [dagId, queue] of this.queues) {
      const dag = this.dags.get(dagId)
      const work = queue[0]
      if (this.active.has(dagId) || !work || !dag) continue
      queue.shift()
      const running = (work.kind === 'sensor' ? this.launchForSensor(dag, work) : work.kind === 'request' ? this.launchRequest(dag, work) : this.startScheduledRuns(dag))
        .catch((error: unknown) => {
          // A backfill started elsewhere owns one of the runs: they start on a later pass, once it is done.
          if (isUpdraftError(error) && error.code === 'BACKFILL_LOCKED') this.reportOnce(`${dagId}: ${work.kind === 'sensor' ? 'the backfill its sensor asked for' : describeWork(dagId, work)} did not start: ${error.summary}`)
          else this.problem(`${dagId}: ${isUpdraftError(error) ? `${error.summary} (${error.code})` : String(error)}`)
        })
        .finally(() => {
          this.active.delete(dagId)
          if (!this.signal.aborted) this.startWhatCan()
        })
      this.active.set(dagId, running)
    }
  }

  private async launchForSensor(dag: Dag, work: Extract<Work, {kind: 'sensor'}>): Promise<void> {
    const id = `${dag.dagId}/${work.sensor.sensorId}`
    let started: BackfillSession | undefined
    try {
      const announce = (session: BackfillSession) => {
        this.launches++
        this.options.report(`sensor ${id}: launching a backfill of ${dag.dagId} for ${stableJson(work.request)}`)
        this.sessions.add((started = session))
      }

      const {document, summary} = await launchBackfill(dag, {...work.request, tags: {...work.request.tags, sensor: work.sensor.sensorId}}, this.options.context, {
        ...this.runSettings(dag),
        known: [],
        onlyIfWork: true,
        onSession: announce,
      })
      const backfillId = 'backfill_id' in document ? document.backfill_id : null
      // A request whose task instances are all done already (the sensor asking again) launches nothing.
      if (summary === null) return
      if (backfillId !== null) this.requests.set(backfillId, work.request)

      this.options.report(`sensor ${id}: backfill ${backfillId} of ${dag.dagId} ${this.outcomeOf(summary)}`)
    } finally {
      if (started) this.sessions.delete(started)
      this.inFlight.delete(work.key)
    }
  }

  /**
   * Takes a queued request (or one whose process died) and runs it as `backfills resume` would. Another
   * scheduler that took it first wins; a request whose runs a live backfill owns is given back as it was and
   * tried again on a later pass.
   */
  private async launchRequest(dag: Dag, {deadPid, host, id}: Extract<Work, {kind: 'request'}>): Promise<void> {
    const {context} = this.options
    const store = await openSharedStore(context)
    try {
      const taken = await takeRequest(store, id, context.process, deadPid)
      if (!taken) return
      const session = await BackfillSession.resume(dag, taken, context)
      this.launches++
      const how = deadPid === 0 ? 'launching' : 'carrying on'
      this.options.report(`request ${id}: ${how} a backfill of ${dag.dagId} for ${selectionText(taken.request)}${deadPid === 0 ? '' : ` (the process that ran it, pid ${deadPid}, is gone)`}`)
      this.sessions.add(session)
      const settings = this.runSettings(dag)
      let summary: BackfillSummary
      try {
        summary = await session.run(settingsOf(taken.request, settings), {listener: settings.listener, notice: settings.notice, signal: settings.signal})
      } catch (error) {
        await giveBackRequest(store, taken, deadPid === 0 ? UNTAKEN : {host, pid: deadPid, state: 'interrupted'})
        throw error
      } finally {
        this.sessions.delete(session)
      }

      this.options.report(`request ${id}: backfill of ${dag.dagId} ${this.outcomeOf(summary)}`)
    } finally {
      this.requestsHere.delete(id)
    }
  }

  private async startScheduledRuns(dag: Dag): Promise<void> {
    const {context} = this.options
    const range = dueRange(dag, (await this.snapshots.current()).summaries[dag.dagId]?.last_scheduled ?? null, context.clock())
    if (range === null) return
    const request = {
      ...backfillRequestOf(dag, {endDate: parseDateTime(range.to, 'the last due run'), startDate: parseDateTime(range.from, 'the first due run')}, {batchSize: 1}),
      runType: 'scheduled' as const,
    }
    const session = await BackfillSession.plan(dag, request, context)
    const runs = session.plan.runs.filter((run) => run.tasks.length > 0)
    const first = runs[0]
    const last = runs.at(-1)
    if (!first || !last) return
    const labelOf = labelerFor(dag)
    const span = first === last ? runLabel(first, labelOf) : `${runLabel(first, labelOf)} … ${runLabel(last, labelOf)}`
    this.launches++
    this.options.report(`${dag.dagId}: starting ${runs.length} scheduled run(s): ${span}`)
    this.sessions.add(session)
    const settings = this.runSettings(dag)
    let summary: BackfillSummary
    try {
      summary = await session.run(
        {conf: {}, disableRetry: false, executor: settings.executor, markSuccess: false, maxActiveRuns: dag.maxActiveRuns, parallelism: settings.parallelism},
        {listener: settings.listener, notice: settings.notice, signal: settings.signal},
      )
    } finally {
      this.sessions.delete(session)
    }

    this.options.report(`${dag.dagId}: scheduled run(s) ${span} ${this.outcomeOf(summary)}`)
  }

  private runSettings(dag: Dag) {
    const listener: BackfillListener = (event) => {
      if (event.type === 'run_finished') this.options.report(`${dag.dagId} ${event.label}: ${event.state}`)
    }

    return {executor: this.options.executor, listener, notice: this.options.report, parallelism: this.options.parallelism, signal: this.signal}
  }

  private outcomeOf(summary: BackfillSummary): string {
    if (summary.interrupted) {
      this.interrupted = true
      return 'was stopped'
    }

    if (allSucceeded(summary)) return 'succeeded'
    this.failures++
    return 'failed'
  }

  private reportOnce(line: string): void {
    if (this.reportedErrors.has(line)) return
    this.reportedErrors.add(line)
    this.problem(line)
  }

  private problem(line: string): void {
    this.failures++
    this.options.reportProblem(line)
  }
}

/** JSON with object keys sorted, so two equal requests compare equal whatever order their keys were written in. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    typeof item === 'object' && item !== null && !Array.isArray(item) && !(item instanceof RegExp) && !(item instanceof Date)
      ? Object.fromEntries(Object.entries(item as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : item instanceof RegExp
        ? String(item)
        : item,
  )
}

/** What a piece of work is, for a line that says it did not start. */
function describeWork(dagId: string, work: Work): string {
  switch (work.kind) {
    case 'request': {
      return `request ${work.id}`
    }

    case 'scheduled': {
      return 'its due runs'
    }

    case 'sensor': {
      return `the backfill sensor ${dagId}/${work.sensor.sensorId} asked for`
    }
  }
}
