import {describe, expect, it} from '@jest/globals'
import {mkdtempSync, readFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {BackfillEvent} from '../../src/core/events.js'
import {applyPlan, type ApplyOptions, PauseController} from '../../src/core/executor/apply-plan.js'
import {type BackfillRequest, existingRunsOf, planBackfill} from '../../src/core/planner/plan-backfill.js'
import {MemoryState, MemoryStore} from '../../src/core/state/memory-store.js'
import {bashTasks, type Dag, LATER, list, makeDag, range} from '../helpers/builders.js'
import {FakeExecutor, ManualTimers, realTimers, steppingClock} from '../helpers/fake-executor.js'
import type {Executor, QueuedTaskInstance, TaskStateChange} from '../../src/core/executor/executor.js'

/** A store in memory that records `dagId`, as a backfill of it would. */
const memoryStoreOf = (dagId: string) => new MemoryStore(new MemoryState(), {clock: steppingClock(), process: {host: 'test', isAlive: () => true, pid: 1}, writer: dagId})

const diamond = makeDag({tasks: bashTasks('extract', 'clean:extract', 'aggregate:extract', 'load:clean,aggregate')})

async function backfill(dag: Dag, executor: Executor, options: Partial<ApplyOptions & BackfillRequest> = {}, store = memoryStoreOf(dag.dagId)) {
  const events: BackfillEvent[] = []
  const request: BackfillRequest = {
    batchSize: 1,
    dates: range('2024-01-01', '2024-01-03'),
    ignoreDependencies: false,
    keys: {from: null, kind: 'range', to: null},
    rerunFailedTasks: false,
    resetDagRuns: false,
    runBackwards: false,
    taskRegex: null,
    ...options,
  }
  const plan = planBackfill(dag, request, LATER, existingRunsOf(await store.readRuns(dag.dagId)))
  const summary = await applyPlan(dag, plan, null, store, executor, {
    baseEnv: {},
    clock: steppingClock(),
    conf: {},
    disableRetry: false,
    listener: (event) => events.push(event),
    logsDir: mkdtempSync(join(tmpdir(), 'updraft-logs-')),
    markSuccess: false,
    maxActiveRuns: 16,
    onUnwritable(error) {
      throw error
    },
    pause: new PauseController(),
    pid: 4242,
    runBackwards: false,
    signal: new AbortController().signal,
    timers: realTimers,
    ...options,
  })
  return {events, store, summary}
}

describe('applyPlan', () => {
  it('runs every date in topological order and records success', async () => {
    const executor = new FakeExecutor()
    const logsDir = mkdtempSync(join(tmpdir(), 'updraft-logs-'))
    const {store, summary} = await backfill(diamond, executor, {logsDir, maxActiveRuns: 1})
    expect(summary.counts).toEqual({runs: {success: 3}, task_instances: {success: 12}})
    expect(executor.started.slice(0, 4)).toEqual([
      'backfill__2024-01-01T00:00:00+00:00 extract',
      'backfill__2024-01-01T00:00:00+00:00 aggregate',
      'backfill__2024-01-01T00:00:00+00:00 clean',
      'backfill__2024-01-01T00:00:00+00:00 load',
    ])
    const run = (await store.readRuns('test_dag')).runs['backfill__2024-01-02T00:00:00+00:00']
    expect(run?.state).toBe('success')
    expect(run?.task_instances.load).toMatchObject({log_path: `${logsDir}/test_dag/backfill__2024-01-02T00:00:00+00:00/load/attempt=1.log`, state: 'success', try_number: 1})
  })

  it('marks downstream upstream_failed on failure while other dates complete', async () => {
    const executor = new FakeExecutor((taskId, _try, ti) => (taskId === 'clean' && ti.env.UPDRAFT_DS === '2024-01-02' ? 'fail' : 'success'))
    const {summary} = await backfill(diamond, executor)
    expect(summary.runs.map((run) => run.state)).toEqual(['success', 'failed', 'success'])
    expect(summary.runs[1]?.task_instances).toEqual({aggregate: 'success', clean: 'failed', extract: 'success', load: 'upstream_failed'})
    expect(summary.failures).toEqual([
      expect.objectContaining({logical_date: '2024-01-02T00:00:00.000Z', reason: 'exit-non-zero', state: 'failed', task_id: 'clean', try_number: 1}),
      expect.objectContaining({reason: 'upstream-failed', state: 'upstream_failed', task_id: 'load'}),
    ])
  })

  it('retries up to `retries` times and counts the tries', async () => {
    const dag = makeDag({default_args: {retries: 2, retry_delay: 0}, tasks: bashTasks('flaky')})
    const executor = new FakeExecutor((_task, tryNumber) => (tryNumber < 3 ? 'fail' : 'success'))
    const {events, store, summary} = await backfill(dag, executor, {dates: range('2024-01-01')})
    expect(summary.counts.task_instances).toEqual({success: 1})
    const ti = (await store.readRuns('test_dag')).runs['backfill__2024-01-01T00:00:00+00:00']?.task_instances.flaky
    expect(ti?.try_number).toBe(3)
    expect(ti?.state).toBe('success')
    expect(ti?.history.map((attempt) => [attempt.try_number, attempt.state])).toEqual([
      [1, 'up_for_retry'],
      [2, 'up_for_retry'],
    ])
    expect(events.filter((event) => event.type === 'task_state' && event.state === 'up_for_retry')).toHaveLength(2)
  })

  it('--disable-retry fails on the first failure', async () => {
    const dag = makeDag({default_args: {retries: 2, retry_delay: 0}, tasks: bashTasks('flaky')})
    const {summary} = await backfill(dag, new FakeExecutor(() => 'fail'), {dates: range('2024-01-01'), disableRetry: true})
    expect(summary.failures).toEqual([expect.objectContaining({state: 'failed', try_number: 1})])
  })

  it('keeps at most max_active_runs dates in flight, starting the next as soon as one finishes', async () => {
    const dag = makeDag({tasks: bashTasks('a')})
    const {events} = await backfill(dag, new FakeExecutor(), {dates: range('2024-01-01', '2024-01-05'), maxActiveRuns: 2})
    let active = 0
    let peak = 0
    for (const event of events) {
      if (event.type === 'run_started') peak = Math.max(peak, ++active)
      if (event.type === 'run_finished') active--
    }

    expect(peak).toBe(2)
  })

  it('depends_on_past waits for the previous date and blocks after its failure', async () => {
    const dag = makeDag({default_args: {depends_on_past: true}, tasks: bashTasks('a')})
    const executor = new FakeExecutor((_task, _try, ti) => (ti.env.UPDRAFT_DS === '2024-01-02' ? 'fail' : 'success'))
    const {summary} = await backfill(dag, executor, {maxActiveRuns: 3})
    expect(executor.started).toEqual(['backfill__2024-01-01T00:00:00+00:00 a', 'backfill__2024-01-02T00:00:00+00:00 a'])
    expect(summary.runs[2]?.task_instances.a).toBe('upstream_failed')
    expect(summary.failures[1]).toMatchObject({reason: 'depends-on-past'})
  })

  it('depends_on_past: a task upstream_failed on one date releases the same task waiting on the next date', async () => {
    const dag = makeDag({tasks: [...bashTasks('a'), {bash_command: 'true', depends_on_past: true, task_id: 'b', upstream: ['a']}]})
    // Jan 1's `a` is held until Jan 2's `a` has succeeded, then fails: Jan 2's `b` is already waiting on Jan 1's `b`.
    const executor = new FakeExecutor(
      (taskId, _try, ti) => (taskId === 'a' && ti.env.UPDRAFT_DS === '2024-01-01' ? 'fail' : 'success'),
      (ti) => ti.key.endsWith('a') && ti.env.UPDRAFT_DS === '2024-01-01',
    )
    const {summary} = await backfill(dag, executor, {
      dates: range('2024-01-01', '2024-01-02'),
      listener(event) {
        if (event.type === 'task_state' && event.task_id === 'a' && event.state === 'success') setImmediate(() => executor.release())
      },
      maxActiveRuns: 2,
    })
    expect(summary.runs.map((run) => run.task_instances)).toEqual([
      {a: 'failed', b: 'upstream_failed'},
      {a: 'success', b: 'upstream_failed'},
    ])
    expect(summary.failures.at(-1)).toMatchObject({reason: 'depends-on-past', task_id: 'b'})
  })

  it('-i runs only the selected task, treating unselected upstreams as satisfied', async () => {
    const executor = new FakeExecutor()
    const {summary} = await backfill(diamond, executor, {dates: range('2024-01-01'), ignoreDependencies: true, taskRegex: /^load$/})
    expect(executor.started).toEqual(['backfill__2024-01-01T00:00:00+00:00 load'])
    expect(summary.runs[0]?.task_instances).toEqual({load: 'success'})
  })

  it('-m marks success without running anything', async () => {
    const executor = new FakeExecutor()
    const {summary} = await backfill(diamond, executor, {markSuccess: true})
    expect(executor.started).toEqual([])
    expect(summary.counts.task_instances).toEqual({success: 12})
  })

  it('a second backfill runs nothing; --rerun-failed-tasks re-runs only what failed', async () => {
    let failClean = true
    const executor = new FakeExecutor((taskId) => (taskId === 'clean' && failClean ? 'fail' : 'success'))
    const first = await backfill(diamond, executor, {dates: range('2024-01-01')})
    expect(first.summary.runs[0]?.state).toBe('failed')

    const again = new FakeExecutor()
    const second = await backfill(diamond, again, {dates: range('2024-01-01')}, first.store)
    expect(again.started).toEqual([])
    expect(second.summary.runs[0]?.state).toBe('failed')

    failClean = false
    const rerun = new FakeExecutor()
    const third = await backfill(diamond, rerun, {dates: range('2024-01-01'), rerunFailedTasks: true}, first.store)
    expect(rerun.started.map((key) => key.split(' ')[1])).toEqual(['clean', 'load'])
    expect(third.summary.runs[0]?.state).toBe('success')
    const clean = (await first.store.readRuns('test_dag')).runs['backfill__2024-01-01T00:00:00+00:00']?.task_instances.clean
    expect(clean?.try_number).toBe(2)
  })

  it('an abort during a retry delay stops at once and leaves the instance to a re-run, keeping the failed try', async () => {
    const dag = makeDag({default_args: {retries: 1, retry_delay: {minutes: 10}}, tasks: bashTasks('flaky')})
    const controller = new AbortController()
    const started = Date.now()
    const {store, summary} = await backfill(dag, new FakeExecutor(() => 'fail'), {
      dates: range('2024-01-01'),
      listener(event) {
        if (event.type === 'task_state' && event.state === 'up_for_retry') setImmediate(() => controller.abort('SIGINT'))
      },
      signal: controller.signal,
    })
    expect(Date.now() - started).toBeLessThan(60_000)
    expect(summary.interrupted).toBe(true)
    const ti = (await store.readRuns('test_dag')).runs['backfill__2024-01-01T00:00:00+00:00']?.task_instances.flaky
    expect(ti).toMatchObject({reason: 'interrupted', state: 'none', try_number: 1})
    expect(ti?.history).toEqual([expect.objectContaining({reason: 'exit-non-zero', state: 'up_for_retry', try_number: 1})])
  })

  it('a template that fails to render fails its instance with the error, without running it', async () => {
    const dag = makeDag({tasks: [{bash_command: 'echo {{ ds | no_such_filter }}', task_id: 'broken'}, {bash_command: 'true', task_id: 'after', upstream: ['broken']}]})
    const executor = new FakeExecutor()
    const {store, summary} = await backfill(dag, executor, {dates: range('2024-01-01'), logsDir: mkdtempSync(join(tmpdir(), 'updraft-logs-'))})
    expect(executor.started).toEqual([])
    expect(summary.failures).toEqual([
      expect.objectContaining({reason: 'exception', state: 'failed', task_id: 'broken'}),
      expect.objectContaining({reason: 'upstream-failed', state: 'upstream_failed', task_id: 'after'}),
    ])
    const run = (await store.readRuns('test_dag')).runs['backfill__2024-01-01T00:00:00+00:00']
    expect(run?.state).toBe('failed')
    // The reason is in the try's log, where `tasks logs` looks.
    expect(readFileSync(run?.task_instances.broken?.log_path ?? '', 'utf8')).toMatch(/^template error: [^]*filter not found: no_such_filter/)
  })

  it('an abort returns running instances to none with an interrupted attempt, and keeps the successes', async () => {
    const controller = new AbortController()
    const executor = new FakeExecutor(undefined, (ti) => ti.key.endsWith('clean'))
    const events: BackfillEvent[] = []
    const pending = backfill(diamond, executor, {
      dates: range('2024-01-01'),
      listener(event) {
        events.push(event)
        if (event.type === 'task_state' && event.task_id === 'clean' && event.state === 'running') controller.abort('SIGINT')
      },
      signal: controller.signal,
    })
    const {store, summary} = await pending
    expect(summary.interrupted).toBe(true)
    const tis = (await store.readRuns('test_dag')).runs['backfill__2024-01-01T00:00:00+00:00']?.task_instances
    expect(tis?.extract?.state).toBe('success')
    expect(tis?.clean).toMatchObject({reason: 'interrupted', state: 'none'})
    expect(tis?.clean?.history.at(-1)).toMatchObject({reason: 'interrupted', try_number: 1})
    expect(Object.values(tis ?? {}).some((ti) => ti.state === 'running' || ti.state === 'queued')).toBe(false)
  })

  it('renders templates with the DAG zone and passes UPDRAFT_* and merged params', async () => {
    const dag = makeDag({
      params: {region: 'eu', tier: 1},
      schedule_interval: '0 6 * * *',
      start_date: '2024-01-01',
      tasks: [{bash_command: 'echo {{ ds }} {{ ts }} {{ params.region | shquote }} {{ run_id }}', task_id: 't'}],
      timezone: 'Asia/Kolkata',
    })
    const seen: Array<{command: string; env: Record<string, string>}> = []
    const executor = new FakeExecutor((_task, _try, ti) => {
      seen.push({command: ti.work.kind === 'bash' ? ti.work.command : '', env: ti.env})
      return 'success'
    })
    await backfill(dag, executor, {conf: {region: "o'hare"}, dates: list('2024-03-01T06:00')})
    // 06:00 in Kolkata on Mar 1 is 00:30Z the same day.
    expect(seen[0]?.command).toBe(`echo 2024-03-01 2024-03-01T06:00:00+05:30 'o'\\''hare' backfill__2024-03-01T00:30:00+00:00`)
    expect(seen[0]?.env).toMatchObject({UPDRAFT_DS: '2024-03-01', UPDRAFT_LOGICAL_DATE: '2024-03-01T00:30:00.000Z', UPDRAFT_PARAMS: `{"region":"o'hare","tier":1}`, UPDRAFT_TRY_NUMBER: '1'})
  })
})

/** Runs each queued try for `ms` of real time, recording starts and the most that ran at once. */
class TimedExecutor implements Executor {
  readonly started: string[] = []
  private readonly listeners = new Set<(change: TaskStateChange) => void>()

  /** `counts` may be shared by executors of several backfills, to see what ran at once across them. */
  constructor(
    private readonly ms = 5,
    private readonly counts = {peak: 0, running: 0},
  ) {}

  get peak(): number {
    return this.counts.peak
  }

  onStateChange(listener: (change: TaskStateChange) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  queue(ti: QueuedTaskInstance): void {
    this.started.push(ti.key.replace('\u0000', ' '))
    this.counts.peak = Math.max(this.counts.peak, ++this.counts.running)
    this.emit({at: new Date(0), key: ti.key, pid: 1, state: 'running'})
    setTimeout(() => {
      this.counts.running--
      this.emit({at: new Date(0), key: ti.key, startedAt: null, state: 'success'})
    }, this.ms)
  }

  async shutdown(): Promise<void> {}

  killNow(): void {}

  private emit(change: TaskStateChange): void {
    for (const listener of this.listeners) listener(change)
  }
}

describe('pools, priorities and caps (§17)', () => {
  const storeAs = (shared: MemoryState, pid: number, dagId: string) => new MemoryStore(shared, {clock: steppingClock(), process: {host: 'test', isAlive: (other) => other !== 666, pid}, writer: dagId})

  it('never runs more of a pool than its slots, and starts the highest priority first, then the oldest date', async () => {
    const shared = new MemoryState()
    const store = storeAs(shared, 1, 'test_dag')
    await store.pools.set('warehouse', 2, null)
    const dag = makeDag({
      default_args: {pool: 'warehouse', weight_rule: 'absolute'},
      tasks: [
        {bash_command: 'true', priority_weight: 1, task_id: 'first_by_name'},
        {bash_command: 'true', priority_weight: 5, task_id: 'weighty'},
      ],
    })
    const executor = new TimedExecutor()
    const {summary} = await backfill(dag, executor, {dates: range('2024-01-01', '2024-01-03')}, store)
    expect(summary.counts.task_instances).toEqual({success: 6})
    expect(executor.peak).toBe(2)
    expect(executor.started.map((key) => key.split(' ')[1])).toEqual(['weighty', 'weighty', 'weighty', 'first_by_name', 'first_by_name', 'first_by_name'])
    expect(executor.started.slice(0, 3).map((key) => key.split(' ')[0])).toEqual(['backfill__2024-01-01T00:00:00+00:00', 'backfill__2024-01-02T00:00:00+00:00', 'backfill__2024-01-03T00:00:00+00:00'])
    expect(await store.pools.list()).toContainEqual(expect.objectContaining({name: 'warehouse', open: 2, queued: 0, running: 0}))
  })

  it('runs the newest date first among equals with -B', async () => {
    const store = storeAs(new MemoryState(), 1, 'test_dag')
    await store.pools.set('one', 1, null)
    const executor = new TimedExecutor()
    await backfill(makeDag({default_args: {pool: 'one'}, tasks: bashTasks('only')}), executor, {dates: range('2024-01-01', '2024-01-03'), runBackwards: true}, store)
    expect(executor.started.map((key) => key.slice('backfill__'.length, 'backfill__2024-01-0X'.length))).toEqual(['2024-01-03', '2024-01-02', '2024-01-01'])
  })

  it('a task instance waiting for a slot another process holds waits, never failing as a deadlock, and runs once it is freed', async () => {
    const shared = new MemoryState()
    const store = storeAs(shared, 1, 'test_dag')
    await store.pools.set('one', 1, null)
    const other = storeAs(shared, 2, 'other_dag')
    await other.pools.exchange('elsewhere', {held: {}, waiting: [{asked_at: 0, key: 'x', logical_date: null, newest_first: false, pool: 'one', priority: 1, scheduled: false, slots: 1}]})
    const waits: BackfillEvent[] = []
    const executor = new TimedExecutor()
    const pending = backfill(makeDag({default_args: {pool: 'one'}, tasks: bashTasks('only')}), executor, {dates: range('2024-01-01'), listener: (event) => event.type === 'task_waiting' && waits.push(event)}, store)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(executor.started).toEqual([])
    expect(waits).toEqual([expect.objectContaining({pool: 'one', slots: 1, task_id: 'only', type: 'task_waiting', used: 1})])
    await other.pools.exchange('elsewhere', null)
    const {summary} = await pending
    expect(summary.counts.task_instances).toEqual({success: 1})
  })

  it("gives a slot freed elsewhere to a scheduled run's task instance before a backfill's, whatever the backfill's priority", async () => {
    const shared = new MemoryState()
    const store = storeAs(shared, 1, 'test_dag')
    await store.pools.set('one', 1, null)
    const elsewhere = storeAs(shared, 2, 'other_dag').pools
    const backfillWaiter = {asked_at: 0, key: 'backfill-ti', logical_date: '2020-01-01T00:00:00.000Z', newest_first: false, pool: 'one', priority: 100, scheduled: false, slots: 1}
    await elsewhere.exchange('backfill', {held: {one: {idle: 0, queued: 0, running: 1}}, waiting: [backfillWaiter]})
    const executor = new TimedExecutor()
    const pending = backfill(makeDag({default_args: {pool: 'one'}, tasks: bashTasks('only')}), executor, {dates: range('2024-01-01'), runType: 'scheduled'}, store)
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect((await elsewhere.exchange('backfill', {held: {}, waiting: [backfillWaiter]})).granted).toEqual([])
    await pending
    expect(executor.started).toEqual(['scheduled__2024-01-01T00:00:00+00:00 only'])
    expect((await elsewhere.exchange('backfill', {held: {}, waiting: [backfillWaiter]})).granted).toEqual(['backfill-ti'])
  })

  it('frees the slots of a dead owner', async () => {
    const shared = new MemoryState()
    const store = storeAs(shared, 1, 'test_dag')
    await store.pools.set('one', 1, null)
    const dead = storeAs(shared, 666, 'other_dag')
    await dead.pools.exchange('dead-owner', {held: {one: {idle: 0, queued: 0, running: 1}}, waiting: []})
    const {summary} = await backfill(makeDag({default_args: {pool: 'one'}, tasks: bashTasks('only')}), new TimedExecutor(), {dates: range('2024-01-01')}, store)
    expect(summary.counts.task_instances).toEqual({success: 1})
  })

  it('fails a waiting task instance with reason pool when its pool is deleted, and runs the rest', async () => {
    const shared = new MemoryState()
    const store = storeAs(shared, 1, 'test_dag')
    await store.pools.set('doomed', 1, null)
    await storeAs(shared, 2, 'other_dag').pools.exchange('holder', {held: {doomed: {idle: 0, queued: 0, running: 1}}, waiting: []})
    const dag = makeDag({tasks: [{bash_command: 'true', pool: 'doomed', task_id: 'pooled'}, {bash_command: 'true', task_id: 'free'}]})
    const refused: BackfillEvent[] = []
    const pending = backfill(dag, new TimedExecutor(), {dates: range('2024-01-01'), listener: (event) => event.type === 'task_refused' && refused.push(event)}, store)
    await new Promise((resolve) => setTimeout(resolve, 200))
    await store.pools.delete('doomed')
    const {summary} = await pending
    expect(summary.counts.task_instances).toEqual({failed: 1, success: 1})
    const ti = (await store.readRuns('test_dag')).runs['backfill__2024-01-01T00:00:00+00:00']?.task_instances.pooled
    expect(ti).toMatchObject({reason: 'pool', state: 'failed', try_number: 0})
    expect(refused).toEqual([expect.objectContaining({message: 'pool doomed does not exist any more', task_id: 'pooled'})])
  })

  it('caps a run at max_active_tasks and a task across runs at max_active_tis_per_dag', async () => {
    const wide = new TimedExecutor()
    await backfill(makeDag({max_active_tasks: 2, tasks: bashTasks('a', 'b', 'c', 'd')}), wide, {dates: range('2024-01-01')})
    expect(wide.peak).toBe(2)
    const across = new TimedExecutor()
    await backfill(makeDag({tasks: [{bash_command: 'true', max_active_tis_per_dag: 1, task_id: 'serial'}]}), across, {dates: range('2024-01-01', '2024-01-04')})
    expect(across.peak).toBe(1)
    expect(across.started).toHaveLength(4)
  })

  it('holds max_active_tis_per_dag across two backfills of one DAG in two processes', async () => {
    const shared = new MemoryState()
    const dag = makeDag({tasks: [{bash_command: 'true', max_active_tis_per_dag: 1, task_id: 'serial'}]})
    const counts = {peak: 0, running: 0}
    const [first, second] = [new TimedExecutor(30, counts), new TimedExecutor(30, counts)]
    await Promise.all([
      backfill(dag, first, {dates: range('2024-01-01', '2024-01-03')}, storeAs(shared, 1, 'test_dag')),
      backfill(dag, second, {dates: range('2024-02-01', '2024-02-03')}, storeAs(shared, 2, 'test_dag')),
    ])
    expect([first.started.length, second.started.length, counts.peak]).toEqual([3, 3, 1])
  })

  it('starts nothing while paused, lets running task instances finish, and carries on when unpaused', async () => {
    const pause = new PauseController()
    const executor = new TimedExecutor(50)
    const events: BackfillEvent[] = []
    const pending = backfill(makeDag({tasks: bashTasks('first', 'second:first')}), executor, {dates: range('2024-01-01', '2024-01-02'), listener: (event) => events.push(event), maxActiveRuns: 1, pause})
    await new Promise((resolve) => setTimeout(resolve, 10))
    pause.set(true)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(executor.started).toEqual(['backfill__2024-01-01T00:00:00+00:00 first'])
    expect(events.filter((event) => event.type === 'task_state' && event.task_id === 'first' && event.state === 'success')).toHaveLength(1)
    pause.set(false)
    const {summary} = await pending
    expect(summary.counts.task_instances).toEqual({success: 4})
    expect(events.filter((event) => event.type === 'pause_changed').map((event) => event.type === 'pause_changed' && event.paused)).toEqual([true, false])
  })

  it('waits out a retry delay on the timers it is given', async () => {
    const timers = new ManualTimers()
    const dag = makeDag({default_args: {retries: 1, retry_delay: {minutes: 10}}, tasks: bashTasks('flaky')})
    const pending = backfill(dag, new FakeExecutor((_task, tryNumber) => (tryNumber === 1 ? 'fail' : 'success')), {
      dates: range('2024-01-01'),
      listener(event) {
        if (event.type === 'task_state' && event.state === 'up_for_retry') setImmediate(() => timers.advance(600_000))
      },
      timers,
    })
    const {summary} = await pending
    expect(summary.counts.task_instances).toEqual({success: 1})
  })
})
