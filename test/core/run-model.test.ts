import {describe, expect, it} from '@jest/globals'

import {readinessOf} from '../../src/core/executor/readiness.js'
import {type BackfillRequest, planBackfill} from '../../src/core/planner/plan-backfill.js'
import {coveredByRunId, runIdOf, runLabel, runWindow, runSpec} from '../../src/core/run/run-spec.js'
import {resolvePartitionKeys, runSelectionFrom} from '../../src/core/run/selection.js'
import {parseDateTime} from '../../src/core/schedule/logical-date.js'
import type {DateSelection} from '../../src/core/schedule/resolve-dates.js'
import type {TaskInstanceState} from '../../src/core/state/schema.js'
import {bashTasks, LATER, list, makeDag, range} from '../helpers/builders.js'

const day = (date: string) => ({data_interval_end: `${date}T23:59:59.000Z`, data_interval_start: `${date}T00:00:00.000Z`, logical_date: `${date}T00:00:00.000Z`})
const ALL_KEYS = {from: null, kind: 'range', to: null} as const

function request(dates: DateSelection | null, overrides: Partial<BackfillRequest> = {}): BackfillRequest {
  return {batchSize: 1, dates, ignoreDependencies: false, keys: ALL_KEYS, rerunFailedTasks: false, resetDagRuns: false, runBackwards: false, taskRegex: null, ...overrides}
}

const regional = makeDag({partitions: ['us', 'eu', 'apac'], tasks: bashTasks('extract', 'load:extract')})
const keyOnly = makeDag({partitions: ['M', 'Tu', 'W', 'Th', 'F'], schedule_interval: null, start_date: undefined})

describe('run ids and windows', () => {
  it('names a date run as Airflow does, with the key or the covered range appended', () => {
    expect(runIdOf([day('2024-01-01')], null)).toBe('backfill__2024-01-01T00:00:00+00:00')
    expect(runIdOf([day('2024-01-01')], 'eu')).toBe('backfill__2024-01-01T00:00:00+00:00__eu')
    expect(runIdOf([], 'eu')).toBe('backfill__eu')
    expect(runIdOf([day('2024-01-01'), day('2024-01-02'), day('2024-01-03')], null)).toBe('backfill__2024-01-01T00:00:00+00:00--2024-01-03T00:00:00+00:00')
    expect(runIdOf([day('2024-01-01'), day('2024-01-02')], 'us')).toBe('backfill__2024-01-01T00:00:00+00:00--2024-01-02T00:00:00+00:00__us')
  })

  it('reads back from a run id the first date and the key it names, for runs not started yet', () => {
    const first = day('2024-03-04')
    expect(coveredByRunId(runIdOf([first], null))).toEqual({logical_date: first.logical_date, partition_key: null})
    expect(coveredByRunId(runIdOf([first, day('2024-03-05')], 'eu_west'))).toEqual({logical_date: first.logical_date, partition_key: 'eu_west'})
    expect(coveredByRunId(runIdOf([], 'apac'))).toEqual({logical_date: null, partition_key: 'apac'})
    expect(coveredByRunId(runIdOf([first], null, 'scheduled'))).toEqual({logical_date: first.logical_date, partition_key: null})
  })

  it('gives a batch the first logical date and the interval from its first start to its last end', () => {
    expect(runWindow(runSpec([day('2024-01-01'), day('2024-01-02')], null))).toEqual({
      data_interval_end: '2024-01-02T23:59:59.000Z',
      data_interval_start: '2024-01-01T00:00:00.000Z',
      logical_date: '2024-01-01T00:00:00.000Z',
      logical_dates: ['2024-01-01T00:00:00.000Z', '2024-01-02T00:00:00.000Z'],
      partition_key: null,
      run_id: 'backfill__2024-01-01T00:00:00+00:00--2024-01-02T00:00:00+00:00',
    })
    expect(runWindow(runSpec([], 'W'))).toMatchObject({data_interval_end: null, data_interval_start: null, logical_date: null, logical_dates: []})
  })

  it('labels runs by their dates and key', () => {
    const labelOf = (iso: string) => iso.slice(0, 10)
    expect(runLabel({logical_dates: ['2024-01-01T00:00:00.000Z'], partition_key: 'eu'}, labelOf)).toBe('2024-01-01 · eu')
    expect(runLabel({logical_dates: ['2024-01-01T00:00:00.000Z', '2024-01-07T00:00:00.000Z'], partition_key: null}, labelOf)).toBe('2024-01-01 → 2024-01-07')
    expect(runLabel({logical_dates: [], partition_key: 'Tu'}, labelOf)).toBe('Tu')
  })
})

describe('selecting keys', () => {
  it('takes every key, a list in declared order, or an inclusive range', () => {
    expect(resolvePartitionKeys(regional, ALL_KEYS)).toEqual(['us', 'eu', 'apac'])
    expect(resolvePartitionKeys(regional, {keys: ['apac', 'us'], kind: 'list'})).toEqual(['us', 'apac'])
    expect(resolvePartitionKeys(keyOnly, {from: 'Tu', kind: 'range', to: 'Th'})).toEqual(['Tu', 'W', 'Th'])
    expect(resolvePartitionKeys(keyOnly, {from: 'Th', kind: 'range', to: null})).toEqual(['Th', 'F'])
    expect(resolvePartitionKeys(keyOnly, {from: null, kind: 'range', to: 'Tu'})).toEqual(['M', 'Tu'])
    expect(resolvePartitionKeys(makeDag(), ALL_KEYS)).toEqual([null])
  })

  it('refuses an unknown key naming the closest one, and a range that runs backwards', () => {
    expect(() => resolvePartitionKeys(regional, {keys: ['euu'], kind: 'list'})).toThrow(/got "euu"; did you mean "eu"\?/)
    expect(() => resolvePartitionKeys(keyOnly, {from: 'F', kind: 'range', to: 'M'})).toThrow(expect.objectContaining({code: 'PARTITION_RANGE_INVERTED'}))
  })

  it('reads the Dagster spellings as dates on a DAG without partitions, and refuses mixing the two', () => {
    const plain = makeDag()
    const asRange = runSelectionFrom(plain, {from: '2024-05-01', to: '2024-05-31'})
    expect(asRange.dates).toMatchObject({kind: 'range', start: {text: '2024-05-01'}, end: {text: '2024-05-31'}})
    expect(runSelectionFrom(plain, {partitions: ['2024-05-01', '2024-05-03']}).dates).toMatchObject({kind: 'list', dates: [{text: '2024-05-01'}, {text: '2024-05-03'}]})
    expect(() => runSelectionFrom(plain, {from: '2024-05-01', startDate: parseDateTime('2024-05-01', '-s')})).toThrow(expect.objectContaining({code: 'MIXED_SELECTION_FLAGS'}))
    expect(() => runSelectionFrom(regional, {from: 'us', partitions: ['eu']})).toThrow(expect.objectContaining({code: 'MIXED_SELECTION_FLAGS'}))
    expect(() => runSelectionFrom(keyOnly, {startDate: parseDateTime('2024-05-01', '-s')})).toThrow(expect.objectContaining({code: 'DATES_ON_KEY_ONLY_DAG'}))
  })
})

describe('planning partitions', () => {
  it('plans one run per date and key, ordered by date then key order', () => {
    const plan = planBackfill(regional, request(range('2024-01-01', '2024-01-02'), {keys: {keys: ['apac', 'us'], kind: 'list'}}), LATER, [])
    expect(plan.runs.map((run) => [run.logical_date?.slice(0, 10), run.partition_key])).toEqual([
      ['2024-01-01', 'us'],
      ['2024-01-01', 'apac'],
      ['2024-01-02', 'us'],
      ['2024-01-02', 'apac'],
    ])
  })

  it('reverses dates but keeps key order under -B', () => {
    const plan = planBackfill(regional, request(range('2024-01-01', '2024-01-02'), {runBackwards: true}), LATER, [])
    expect(plan.runs.map((run) => `${run.logical_date?.slice(8, 10)}:${run.partition_key}`)).toEqual(['02:us', '02:eu', '02:apac', '01:us', '01:eu', '01:apac'])
  })

  it('plans a key-only DAG as one dateless run per key; batch size has no effect on it', () => {
    const plan = planBackfill(keyOnly, request(null, {batchSize: null, keys: {from: 'W', kind: 'range', to: null}}), LATER, [])
    expect(plan.runs.map((run) => run.run_id)).toEqual(['backfill__W', 'backfill__Th', 'backfill__F'])
    expect(plan.runs[0]).toMatchObject({data_interval_start: null, logical_date: null, logical_dates: [], records: [{logical_date: null, run_id: 'backfill__W'}]})
  })

  it('keeps each key apart in the state it reads', () => {
    const existing = [{run_id: 'backfill__2024-01-01T00:00:00+00:00__eu', task_instances: {extract: 'success', load: 'success'} as Record<string, TaskInstanceState>}]
    const plan = planBackfill(regional, request(range('2024-01-01')), LATER, existing)
    expect(plan.runs.map((run) => [run.partition_key, run.tasks.length])).toEqual([
      ['us', 2],
      ['eu', 0],
      ['apac', 2],
    ])
  })
})

describe('planning batches', () => {
  const daily = makeDag({tasks: bashTasks('extract', 'load:extract')})

  it('cuts consecutive dates into runs of at most the batch size, oldest first', () => {
    const plan = planBackfill(daily, request(range('2024-01-01', '2024-01-07'), {batchSize: 3}), LATER, [])
    expect(plan.runs.map((run) => run.logical_dates.map((iso) => iso.slice(8, 10)))).toEqual([['01', '02', '03'], ['04', '05', '06'], ['07']])
    expect(plan.runs[0]?.records.map((record) => record.run_id)).toEqual([
      'backfill__2024-01-01T00:00:00+00:00',
      'backfill__2024-01-02T00:00:00+00:00',
      'backfill__2024-01-03T00:00:00+00:00',
    ])
    expect(plan.runs[2]?.run_id).toBe('backfill__2024-01-07T00:00:00+00:00')
  })

  it('ends a batch at a complete date, a gap in a -l list, or a date that runs different tasks', () => {
    const existing = [
      {run_id: 'backfill__2024-01-03T00:00:00+00:00', task_instances: {extract: 'success', load: 'success'} as Record<string, TaskInstanceState>},
      {run_id: 'backfill__2024-01-05T00:00:00+00:00', task_instances: {extract: 'success'} as Record<string, TaskInstanceState>},
    ]
    const plan = planBackfill(daily, request(range('2024-01-01', '2024-01-06'), {batchSize: null}), LATER, existing)
    expect(plan.runs.map((run) => [run.logical_dates.map((iso) => iso.slice(8, 10)).join(','), run.tasks.join(',')])).toEqual([
      ['01,02', 'extract,load'],
      ['03', ''],
      ['04', 'extract,load'],
      ['05', 'load'],
      ['06', 'extract,load'],
    ])
    const listed = planBackfill(daily, request(list('2024-01-01', '2024-01-02', '2024-01-04'), {batchSize: null}), LATER, [])
    expect(listed.runs.map((run) => run.logical_dates.length)).toEqual([2, 1])
  })

  it('batches each key separately and runs batches newest first under -B without reordering their dates', () => {
    const plan = planBackfill(regional, request(range('2024-01-01', '2024-01-04'), {batchSize: 2, keys: {keys: ['us', 'eu'], kind: 'list'}, runBackwards: true}), LATER, [])
    expect(plan.runs.map((run) => run.run_id)).toEqual([
      'backfill__2024-01-03T00:00:00+00:00--2024-01-04T00:00:00+00:00__us',
      'backfill__2024-01-03T00:00:00+00:00--2024-01-04T00:00:00+00:00__eu',
      'backfill__2024-01-01T00:00:00+00:00--2024-01-02T00:00:00+00:00__us',
      'backfill__2024-01-01T00:00:00+00:00--2024-01-02T00:00:00+00:00__eu',
    ])
  })
})

describe('readiness', () => {
  const task = {dependsOnPast: true, upstream: ['a']}
  const states = (map: Record<string, TaskInstanceState>) => Object.fromEntries(Object.entries(map).map(([taskId, state]) => [taskId, {state}]))
  const selected = new Set(['a', 'b'])

  it('waits on an unfinished upstream, and names it', () => {
    expect(readinessOf(task, selected, states({a: 'running'}), null)).toEqual({kind: 'waiting', on: 'upstream'})
  })

  it('is blocked for good by a failed upstream or a failed past instance', () => {
    expect(readinessOf(task, selected, states({a: 'failed'}), null)).toEqual({kind: 'blocked', reason: 'upstream-failed'})
    expect(readinessOf(task, selected, states({a: 'success'}), {finished: false, state: 'failed'})).toEqual({kind: 'blocked', reason: 'depends-on-past'})
    expect(readinessOf(task, selected, states({a: 'success'}), {finished: true, state: 'none'})).toEqual({kind: 'blocked', reason: 'depends-on-past'})
  })

  it('waits on the past while the previous run is still going, and is ready once it is done', () => {
    expect(readinessOf(task, selected, states({a: 'success'}), {finished: false, state: 'running'})).toEqual({kind: 'waiting', on: 'past'})
    expect(readinessOf(task, selected, states({a: 'success'}), {finished: false, state: 'success'})).toEqual({kind: 'ready'})
    expect(readinessOf(task, new Set(['b']), states({}), null)).toEqual({kind: 'ready'})
  })
})
