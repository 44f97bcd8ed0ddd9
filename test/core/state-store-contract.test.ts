import {afterAll, afterEach, beforeAll, describe, expect, it} from '@jest/globals'
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import pg from 'pg'

import {EmbeddedStore} from '../../src/core/state/embedded/embedded-store.js'
import {MemoryState, MemoryStore} from '../../src/core/state/memory-store.js'
import {type BackfillRecord, blankTaskInstance, type DagRunRecord, type StateChange, type TaskInstanceState} from '../../src/core/state/schema.js'
import {PostgresStore} from '../../src/core/state/postgres/postgres-store.js'
import {claimKeyOf, type StateStore} from '../../src/core/state/store.js'
import {startPostgres} from '../helpers/postgres-server.js'

/** One shared state, opened by as many "processes" (pids) as a test needs; a pid in `dead` is gone. */
interface Backend {
  dead: Set<number>
  open(pid: number, writer: null | string): Promise<StateStore>
}

const clock = () => new Date('2026-01-01T00:00:00.000Z')
const processOf = (pid: number, dead: Set<number>) => ({host: 'test-host', isAlive: (other: number) => !dead.has(other), pid})

const implementations: Array<[string, () => Backend]> = [
  [
    'memory',
    () => {
      const shared = new MemoryState()
      const dead = new Set<number>()
      return {dead, open: async (pid, writer) => new MemoryStore(shared, {clock, process: processOf(pid, dead), writer})}
    },
  ],
  [
    'embedded',
    () => {
      const path = join(mkdtempSync(join(tmpdir(), 'updraft-store-')), 'db.json')
      const dead = new Set<number>()
      return {dead, open: (pid, writer) => EmbeddedStore.open(path, {clock, process: processOf(pid, dead), writer})}
    },
  ],
  [
    'PostgreSQL',
    () => {
      const url = (postgres as Awaited<ReturnType<typeof startPostgres>>).newDatabase()
      const dead = new Set<number>()
      return {dead, open: (pid, writer) => track(PostgresStore.open(url, {clock, process: processOf(pid, dead), writer}))}
    },
  ],
]

let postgres: Awaited<ReturnType<typeof startPostgres>> | undefined
/** Stores a test opened on PostgreSQL, closed after it so no lease timer outlives the test. */
const opened: StateStore[] = []
async function track(store: Promise<StateStore>): Promise<StateStore> {
  opened.push(await store)
  return store
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close().catch(() => {})))
})
beforeAll(async () => {
  postgres = await startPostgres()
})
afterAll(() => postgres?.stop())

function runOf(dagId: string, day: number, partitionKey: null | string = null): {change: StateChange; run: DagRunRecord} {
  const logicalDate = partitionKey === null || day > 0 ? new Date(Date.UTC(2024, 0, day)).toISOString() : null
  const run: DagRunRecord = {
    conf: {},
    data_interval_end: logicalDate,
    data_interval_start: logicalDate,
    end_date: null,
    logical_date: logicalDate,
    partition_key: partitionKey,
    run_id: `backfill__${logicalDate ?? ''}${partitionKey ? `__${partitionKey}` : ''}`,
    start_date: logicalDate,
    state: 'running',
    task_instances: {extract: blankTaskInstance()},
  }
  return {change: {dag_id: dagId, run, type: 'run'}, run}
}

const tiChange = (dagId: string, runId: string, state: TaskInstanceState): StateChange => ({
  dag_id: dagId,
  run_id: runId,
  task_id: 'extract',
  ti: {...blankTaskInstance(), state, try_number: 1},
  type: 'task_instance',
})

function recordOf(id: number, dagId: string, runIds: string[]): BackfillRecord {
  return {
    counts: {},
    created_at: clock().toISOString(),
    dag_id: dagId,
    finished_at: null,
    history: [],
    host: 'test-host',
    id,
    pid: 7001,
    request: {batch_size: 1, conf: {}, dates: null, disable_retry: false, ignore_dependencies: false, keys: {from: null, kind: 'range', to: null}, mark_success: false, max_active_runs: 16, rerun_failed_tasks: false, reset_dagruns: false, run_backwards: false, task_regex: null},
    run_ids: runIds,
    state: 'running',
  }
}

const statesOf = async (store: StateStore, dagId: string) =>
  Object.fromEntries(Object.values((await store.readRuns(dagId)).runs).map((run) => [run.run_id.slice(10, 20), run.task_instances.extract?.state]))

describe.each(implementations)('the %s store keeps the StateStore contract', (_name, backendOf) => {
  it('reads back runs, task instances, records and settings as recorded, and only the runs of a range', async () => {
    const backend = backendOf()
    const writer = await backend.open(7001, 'sales')
    const days = [1, 2, 31, 32, 60].map((day) => runOf('sales', day))
    writer.record(days.map((day) => day.change))
    writer.record([tiChange('sales', days[1]?.run.run_id as string, 'success')])
    const record = await writer.createBackfill((id) => recordOf(id, 'sales', days.map((day) => day.run.run_id)))
    writer.record([{backfill: {...record, state: 'success'}, dag_id: 'sales', type: 'backfill'}])
    await writer.updateDagSettings((settings) => {
      settings.sales = {is_paused: true}
    })
    await writer.close()

    const reader = await backend.open(7002, null)
    expect(await statesOf(reader, 'sales')).toEqual({'2024-01-01': 'none', '2024-01-02': 'success', '2024-01-31': 'none', '2024-02-01': 'none', '2024-02-29': 'none'})
    const january = await reader.readRuns('sales', {from: '2024-01-02T00:00:00.000Z', to: '2024-01-31T00:00:00.000Z'})
    expect(Object.values(january.runs).map((run) => run.logical_date?.slice(0, 10)).sort()).toEqual(['2024-01-02', '2024-01-31'])
    const catalog = await reader.readCatalog()
    expect(catalog.backfills.map((backfill) => [backfill.id, backfill.state, backfill.runs_total])).toEqual([[1, 'success', 5]])
    expect(catalog.backfills[0]).not.toHaveProperty('run_ids')
    expect(await reader.readBackfillRunIds(1)).toEqual(days.map((day) => day.run.run_id))
    expect(await reader.readBackfillRunIds(2)).toEqual([])
    expect(catalog.settings).toEqual({sales: {is_paused: true}})
    expect(await reader.readDagIds()).toEqual(['sales'])
    expect(await reader.readRuns('nothing')).toEqual({runs: {}})
  })

  it('keeps what a writer recorded when it dies before flushing, and a later writer of the DAG carries on from it', async () => {
    const backend = backendOf()
    const crashed = await backend.open(7001, 'sales')
    const {change, run} = runOf('sales', 1)
    crashed.record([change, tiChange('sales', run.run_id, 'running')])
    crashed.record([tiChange('sales', run.run_id, 'success')])
    // Once durable, the process dies without a flush or a close.
    await new Promise<void>((resolve) => {
      crashed.whenDurable(resolve)
    })
    backend.dead.add(7001)

    expect(await statesOf(await backend.open(7002, null), 'sales')).toEqual({'2024-01-01': 'success'})
    const next = await backend.open(7003, 'sales')
    const second = runOf('sales', 2)
    next.record([second.change])
    const record = await next.createBackfill((id) => recordOf(id, 'sales', [run.run_id]))
    await next.flush()
    // A resume covers more runs under the same record.
    next.record([{backfill: {...record, run_ids: [run.run_id, second.run.run_id]}, dag_id: 'sales', type: 'backfill'}])
    await new Promise<void>((resolve) => {
      next.whenDurable(resolve)
    })
    expect(await (await backend.open(7005, null)).readBackfillRunIds(record.id)).toEqual([run.run_id, second.run.run_id])
    await next.close()
    const reader = await backend.open(7004, null)
    expect(await statesOf(reader, 'sales')).toEqual({'2024-01-01': 'success', '2024-01-02': 'none'})
    expect((await reader.readCatalog()).backfills.map((backfill) => backfill.runs_total)).toEqual([2])
    expect(await reader.readBackfillRunIds(record.id)).toEqual([run.run_id, second.run.run_id])
  })

  it('records two DAGs, and disjoint runs of one DAG, from several processes at once without losing any', async () => {
    const backend = backendOf()
    const writers = await Promise.all([backend.open(7001, 'sales'), backend.open(7002, 'ingest'), backend.open(7003, 'sales')])
    const [salesA, ingest, salesB] = writers as [StateStore, StateStore, StateStore]
    for (let day = 1; day <= 40; day++) {
      const writer = day % 2 === 0 ? salesA : salesB
      const {change, run} = runOf('sales', day)
      writer.record([change])
      ingest.record([runOf('ingest', day).change])
      if (day % 7 === 0) await Promise.all(writers.map((store) => store.flush()))
      writer.record([tiChange('sales', run.run_id, 'success')])
    }

    await Promise.all([salesA.createBackfill((id) => recordOf(id, 'sales', [])), ingest.createBackfill((id) => recordOf(id, 'ingest', [])), salesB.createBackfill((id) => recordOf(id, 'sales', []))])
    await Promise.all(writers.map((store) => store.close()))
    const reader = await backend.open(7004, null)
    const sales = await statesOf(reader, 'sales')
    expect(Object.keys(sales)).toHaveLength(40)
    expect(new Set(Object.values(sales))).toEqual(new Set(['success']))
    expect(Object.keys((await reader.readRuns('ingest')).runs)).toHaveLength(40)
    expect((await reader.readCatalog()).backfills.map((record) => record.id).sort()).toEqual([1, 2, 3])
  })

  it('lets one of two claimants of a run win, refuses the other naming the owner, and hands a dead owner’s runs over', async () => {
    const backend = backendOf()
    const [first, second] = await Promise.all([backend.open(7001, null), backend.open(7002, null)])
    const runs = (days: number[]) => days.map((day) => runOf('sales', day).run).map((run) => ({key: claimKeyOf(run), run_id: run.run_id}))
    const results = await Promise.all([(first as StateStore).claimRuns('sales', runs([1, 2, 3])), (second as StateStore).claimRuns('sales', runs([3, 4]))])
    const won = results.filter((result) => 'release' in result)
    const lost = results.filter((result) => 'owner' in result)
    expect(won).toHaveLength(1)
    expect(lost).toHaveLength(1)
    const loser = lost[0] as {owner: {pid: number}; run: {run_id: string}}
    expect(loser.run.run_id).toBe(runOf('sales', 3).run.run_id)
    expect([7001, 7002]).toContain(loser.owner.pid)

    const third = await backend.open(7003, null)
    expect('release' in (await third.claimRuns('sales', runs([9])))).toBe(true)
    expect((await third.liveClaims('sales')).map((claim) => claim.pid).sort()).toEqual([loser.owner.pid, 7003].sort())
    backend.dead.add(loser.owner.pid)
    expect('release' in (await third.claimRuns('sales', runs([1, 2, 3, 4])))).toBe(true)
  })

  it('passes cancel requests between processes, and reads the same whatever a reader does to what it got', async () => {
    const backend = backendOf()
    const writer = await backend.open(7001, 'sales')
    writer.record([runOf('sales', 1).change])
    await writer.close()
    const reader = await backend.open(7002, null)
    const before = await reader.changeSignature()
    await reader.requestCancel(4, 'a test')
    expect(await writer.cancelRequestOf(4)).toBe('a test')
    expect(await writer.cancelRequestOf(4, {clear: true})).toBe('a test')
    expect(await writer.cancelRequestOf(4)).toBeNull()

    const read = await reader.readRuns('sales')
    const copy = structuredClone(read)
    ;(Object.values(read.runs)[0] as DagRunRecord).state = 'failed'
    expect(await (await backend.open(7003, null)).readRuns('sales')).toEqual(copy)

    const later = await backend.open(7004, 'sales')
    later.record([runOf('sales', 2).change])
    await later.close()
    expect(await reader.changeSignature()).not.toBe(before)
  })
})

describe.each(implementations)('the %s store keeps requests (§18)', (_name, backendOf) => {
  it('lets one of two processes take a queued request, and passes pause requests between processes', async () => {
    const backend = backendOf()
    const creator = await backend.open(7001, 'sales')
    const created = await creator.createBackfill((id) => ({...recordOf(id, 'sales', ['a', 'b']), state: 'queued'}))
    await creator.close()
    const take = (pid: number) => async () => (await backend.open(pid, null)).updateBackfill(created.id, (record) => (record.state === 'queued' ? {...record, pid, state: 'running'} : null))
    const taken = await Promise.all([take(7002)(), take(7003)()])
    expect(taken.filter((record) => record !== null)).toHaveLength(1)
    const reader = await backend.open(7004, null)
    const listed = (await reader.readCatalog()).backfills.find((record) => record.id === created.id)
    expect(listed).toMatchObject({runs_total: 2, state: 'running'})
    expect(await reader.readBackfillRunIds(created.id)).toEqual(['a', 'b'])
    expect(await reader.updateBackfill(99, (record) => record)).toBeNull()

    await reader.requestPause(created.id, true)
    expect(await (await backend.open(7005, null)).pauseRequested(created.id)).toBe(true)
    await reader.requestPause(created.id, false)
    expect(await (await backend.open(7005, null)).pauseRequested(created.id)).toBe(false)
  })
})

describe.each(implementations)('the %s store keeps pools (§17)', (_name, backendOf) => {
  const waiter = (key: string) => ({asked_at: 0, key, logical_date: null, newest_first: false, pool: 'warehouse', priority: 1, scheduled: false, slots: 1})
  const running = (slots: number) => ({warehouse: {idle: 0, queued: 0, running: slots}})

  it('shares pool sizes between processes, keeps default_pool, and refuses what cannot be', async () => {
    const backend = backendOf()
    const [one, two] = [await backend.open(1, null), await backend.open(2, null)]
    expect(await one.pools.set('warehouse', 3, 'four queries')).toMatchObject({name: 'warehouse', open: 3, slots: 3})
    expect(await two.pools.set('warehouse', 4, null)).toMatchObject({description: 'four queries', slots: 4})
    expect((await one.pools.list()).map((pool) => [pool.name, pool.slots])).toEqual([
      ['default_pool', 128],
      ['warehouse', 4],
    ])
    await expect(two.pools.delete('default_pool')).rejects.toMatchObject({code: 'POOL_PROTECTED'})
    await expect(two.pools.delete('nope')).rejects.toMatchObject({code: 'UNKNOWN_POOL'})
    await two.pools.delete('warehouse')
    expect((await one.pools.list()).map((pool) => pool.name)).toEqual(['default_pool'])
  })

  it("grants one process's waiter the slot another gives back, and frees a dead owner's slots", async () => {
    const backend = backendOf()
    const [holder, waiting, dying] = [await backend.open(1, null), await backend.open(2, null), await backend.open(3, null)]
    await holder.pools.set('warehouse', 2, null)
    expect((await holder.pools.exchange('holder', {held: {}, waiting: [waiter('h1'), waiter('h2')]})).granted).toEqual(['h1', 'h2'])
    await holder.pools.exchange('holder', {held: running(2), waiting: []})
    expect((await waiting.pools.exchange('waiting', {held: {}, waiting: [waiter('w1')]})).granted).toEqual([])
    expect((await holder.pools.list()).find((pool) => pool.name === 'warehouse')).toMatchObject({open: 0, queued: 0, running: 2, waiting: 1})
    // The holder gives one slot back; the ledger grants it to the waiter, which finds it at its next exchange.
    expect((await holder.pools.exchange('holder', {held: running(1), waiting: []})).contested).toEqual(['warehouse'])
    expect((await waiting.pools.exchange('waiting', {held: {}, waiting: [waiter('w1')]})).granted).toEqual(['w1'])
    await dying.pools.exchange('dying', {held: {}, waiting: [waiter('d1')]})
    backend.dead.add(3)
    await holder.pools.exchange('holder', null)
    expect((await waiting.pools.exchange('waiting', {held: running(1), waiting: [waiter('w2')]})).granted).toEqual(['w2'])
    expect((await holder.pools.list()).find((pool) => pool.name === 'warehouse')).toMatchObject({open: 0, queued: 1, running: 1, waiting: 0})
    // Those alive are listed (a scheduler's presence is read this way); the one that left and the dead one are not.
    expect((await holder.pools.liveOwners()).sort()).toEqual(['waiting'])
  })
})

describe('the PostgreSQL store across machines', () => {
  const onHost = (host: string, pid: number) => ({host, isAlive: (other: number) => other === pid, pid})

  it('takes over the runs of a coordinator on another machine only once its lease has lapsed', async () => {
    const url = (postgres as Awaited<ReturnType<typeof startPostgres>>).newDatabase()
    const runs = [runOf('sales', 1).run].map((run) => ({key: claimKeyOf(run), run_id: run.run_id}))
    const elsewhere = await track(PostgresStore.open(url, {clock, process: onHost('machine-a', 7001), writer: null}))
    expect('release' in (await elsewhere.claimRuns('sales', runs))).toBe(true)

    // From machine b, pid 7001 is nobody's business: only the lease says whether machine a still runs it.
    const here = await track(PostgresStore.open(url, {clock, process: onHost('machine-b', 7002), writer: null}))
    const refused = await here.claimRuns('sales', runs)
    expect('owner' in refused && refused.owner.pid).toBe(7001)
    expect((await here.liveClaims('sales')).map((claim) => claim.pid)).toEqual([7001])

    const database = new pg.Client({connectionString: url})
    await database.connect()
    await database.query("UPDATE updraft_claims SET lease_until = now() - interval '1 second'")
    await database.end()
    expect(await here.liveClaims('sales')).toEqual([])
    expect('release' in (await here.claimRuns('sales', runs))).toBe(true)
  })
})
