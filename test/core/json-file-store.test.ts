import {describe, expect, it} from '@jest/globals'
import {existsSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {JsonFileStore} from '../../src/core/state/json-file-store.js'
import {blankTaskInstance, type DagRunRecord, type StateChange, type TaskInstanceState} from '../../src/core/state/schema.js'

const alive = {host: 'test-host', isAlive: () => true, pid: process.pid}
const clock = () => new Date('2026-01-01T00:00:00.000Z')

function storePath(): string {
  return join(mkdtempSync(join(tmpdir(), 'updraft-store-')), 'db.json')
}

const open = (path: string, ownDagId: null | string = 'sales') => JsonFileStore.open({clock, ownDagId, path, process: alive})
const nextTurn = () =>
  new Promise((resolve) => {
    setImmediate(resolve)
  })

function runRecord(index: number): DagRunRecord {
  const logicalDate = new Date(Date.UTC(2024, 0, 1, index)).toISOString()
  return {
    conf: {},
    data_interval_end: logicalDate,
    data_interval_start: logicalDate,
    end_date: null,
    logical_date: logicalDate,
    partition_key: null,
    run_id: `backfill__${logicalDate}`,
    start_date: null,
    state: 'queued',
    task_instances: {extract: blankTaskInstance()},
  }
}

const tiChange = (runId: string, state: TaskInstanceState, tryNumber = 1): StateChange => ({
  dag_id: 'sales',
  run_id: runId,
  task_id: 'extract',
  ti: {...blankTaskInstance(), state, try_number: tryNumber},
  type: 'task_instance',
})

/** The first change also starts a background flush at once; after it, the next one is seconds away. */
const settledFlushes = () =>
  new Promise((resolve) => {
    setTimeout(resolve, 100)
  })

const ownJournalOf = (path: string) => `${path}.sales.journal-${process.pid}`
const journalLines = (path: string) => (existsSync(ownJournalOf(path)) ? readFileSync(ownJournalOf(path), 'utf8').trim().split('\n').filter(Boolean) : [])

describe('the JSON file store', () => {
  it('writes byte for byte what JSON.stringify(…, null, 2) would, with more runs than one written piece, and keeps other DAGs', async () => {
    const path = storePath()
    writeFileSync(path, JSON.stringify({dags: {other: {runs: {r: runRecord(0)}}}, schema_version: 1}, null, 2))
    const store = await open(path)
    store.record(Array.from({length: 600}, (_, index): StateChange => ({dag_id: 'sales', run: runRecord(index), type: 'run'})))
    await store.close()
    const text = readFileSync(path, 'utf8')
    const parsed = JSON.parse(text) as {dags: Record<string, {runs: Record<string, unknown>}>}
    expect(text).toBe(JSON.stringify(parsed, null, 2))
    expect(Object.keys(parsed.dags.sales?.runs ?? {})).toHaveLength(600)
    expect(Object.keys(parsed.dags.other?.runs ?? {})).toEqual(['r'])
  })

  it('journals what was recorded by the end of the event-loop turn, an instance changed twice in it once', async () => {
    const path = storePath()
    const store = await open(path)
    const run = runRecord(0)
    store.record([{dag_id: 'sales', run, type: 'run'}])
    await store.flush()
    await settledFlushes()
    store.record([tiChange(run.run_id, 'running')])
    store.record([tiChange(run.run_id, 'success')])
    expect(journalLines(path)).toEqual([])
    await nextTurn()
    const lines = journalLines(path).map((line) => JSON.parse(line) as {ti: {state: string}})
    expect(lines.map((line) => line.ti.state)).toEqual(['success'])
    await store.close()
  })

  it('writes a run recorded in the batch once, with the changes to its instances made after it', async () => {
    const path = storePath()
    const store = await open(path)
    await store.flush()
    await settledFlushes()
    const run = runRecord(0)
    store.record([{dag_id: 'sales', run, type: 'run'}])
    store.record([tiChange(run.run_id, 'running')])
    store.record([tiChange(run.run_id, 'success')])
    await nextTurn()
    const lines = journalLines(path).map((line) => JSON.parse(line) as {run: DagRunRecord; type: string})
    expect(lines.map((line) => line.type)).toEqual(['run'])
    expect(lines[0]?.run.task_instances.extract?.state).toBe('success')
    const reopened = await open(path, null)
    expect((await reopened.readDag('sales')).runs[run.run_id]?.task_instances.extract?.state).toBe('success')
    await store.close()
  })

  it('replays a rotated journal before the live one, so the newer change wins, and ignores a line cut short', async () => {
    const path = storePath()
    const run = runRecord(0)
    writeFileSync(path, JSON.stringify({dags: {sales: {runs: {[run.run_id]: run}}}, schema_version: 1}, null, 2))
    // A flush was rotating the journal when the process died: the older changes are in `.flushing`.
    writeFileSync(`${path}.sales.journal.flushing`, `${JSON.stringify(tiChange(run.run_id, 'running'))}\n`)
    writeFileSync(`${path}.sales.journal`, `${JSON.stringify(tiChange(run.run_id, 'success'))}\n{"dag_id": "sales", "run_`)

    const reader = await open(path, null)
    expect((await reader.readDag('sales')).runs[run.run_id]?.task_instances.extract?.state).toBe('success')
    // A reader leaves the journals alone; the next writer of the DAG folds them into the file and removes them.
    expect(existsSync(`${path}.sales.journal`)).toBe(true)
    const writer = await open(path)
    await writer.close()
    expect(existsSync(`${path}.sales.journal`)).toBe(false)
    expect(existsSync(`${path}.sales.journal.flushing`)).toBe(false)
    const file = JSON.parse(readFileSync(path, 'utf8')) as {dags: {sales: {runs: Record<string, DagRunRecord>}}}
    expect(file.dags.sales.runs[run.run_id]?.task_instances.extract?.state).toBe('success')
  })

  it('after a flush, keeps journaling into a fresh journal that a later open replays on top of the file', async () => {
    const path = storePath()
    const store = await open(path)
    const run = runRecord(0)
    store.record([{dag_id: 'sales', run, type: 'run'}, tiChange(run.run_id, 'running')])
    await store.flush()
    expect(journalLines(path)).toEqual([])
    await settledFlushes()
    store.record([tiChange(run.run_id, 'failed')])
    await nextTurn()
    expect(journalLines(path)).toHaveLength(1)
    // The process dies here: no close, so the file still says running.
    const onDisk = JSON.parse(readFileSync(path, 'utf8')) as {dags: {sales: {runs: Record<string, DagRunRecord>}}}
    expect(onDisk.dags.sales.runs[run.run_id]?.task_instances.extract?.state).toBe('running')
    const reopened = await open(path, null)
    expect((await reopened.readDag('sales')).runs[run.run_id]?.task_instances.extract?.state).toBe('failed')
  })
})
