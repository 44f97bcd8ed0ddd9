import {describe, expect, it} from '@jest/globals'
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import {hostname} from 'node:os'
import {join} from 'node:path'

import {Scheduler} from '../../src/core/scheduler/scheduler.js'
import {openStore} from '../../src/core/state/open-store.js'
import {readState, waitFor} from '../helpers/state-file.js'
import {tmpProject} from '../helpers/tmp-project.js'
import {realTimers} from '../helpers/fake-executor.js'

/** A scheduler on a temp project whose clock the test sets; every line it reports is kept. */
function schedulerFor(root: string, startAt: string) {
  let now = new Date(startAt)
  const lines: string[] = []
  const stop = new AbortController()
  const context = {
    baseEnv: {PATH: process.env.PATH ?? '/usr/bin:/bin'},
    clock: () => now,
    dagsFolder: join(root, 'dags'),
    dbPath: join(root, '.updraft', 'db.json'),
    logsDir: join(root, '.updraft', 'logs'),
    process: {host: hostname(), isAlive: () => true, pid: process.pid},
    timers: realTimers,
  }
  const scheduler = new Scheduler({context, executor: {kind: 'local'}, parallelism: 2, report: (line) => lines.push(line), reportProblem: (line) => lines.push(`problem: ${line}`)}, stop.signal)
  return {
    lines,
    scheduler,
    stop: () => stop.abort('SIGTERM'),
    setClock(iso: string) {
      now = new Date(iso)
    },
    async tick(options: {allSensors?: boolean} = {}) {
      await scheduler.evaluate(options)
      await scheduler.idle()
    },
  }
}

const runIds = (root: string, dagId: string) => Object.keys(readState(root).dags[dagId]?.runs ?? {}).sort()
const linesOf = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8').trim().split('\n').filter(Boolean) : [])
// Each run appends its date to ran.txt, so the test sees every execution, not just the recorded states.
const daily = (extra = '') => `export default {schedule_interval: '@daily', start_date: '2024-01-01', ${extra}
  tasks: [{task_id: 'work', bash_command: 'echo {{ ds }} >> ../ran.txt'}]}`

describe('updraft scheduler with an injected clock (§14)', () => {
  it('catches up every due interval from start_date, then starts each new one once its interval has ended', async () => {
    const root = tmpProject({'dags/daily.mjs': daily()})
    const {setClock, tick} = schedulerFor(root, '2024-01-04T01:00:00Z')
    await tick()
    expect(runIds(root, 'daily')).toEqual(['scheduled__2024-01-01T00:00:00+00:00', 'scheduled__2024-01-02T00:00:00+00:00', 'scheduled__2024-01-03T00:00:00+00:00'])
    expect(Object.values(readState(root).dags.daily?.runs ?? {}).map((run) => run.state)).toEqual(['success', 'success', 'success'])

    // 2024-01-04's interval has not ended at 23:59 on the 4th; it is due at midnight.
    setClock('2024-01-04T23:59:00Z')
    await tick()
    expect(runIds(root, 'daily')).toHaveLength(3)
    setClock('2024-01-05T00:00:00Z')
    await tick()
    expect(runIds(root, 'daily').at(-1)).toBe('scheduled__2024-01-04T00:00:00+00:00')
    expect(linesOf(join(root, 'ran.txt')).sort()).toEqual(['2024-01-01', '2024-01-02', '2024-01-03', '2024-01-04'])
  })

  it('takes a stopped scheduled run up again, and runs it once', async () => {
    const root = tmpProject({
      'dags/gated.mjs': `export default {schedule_interval: '@daily', start_date: '2024-01-01',
        tasks: [{task_id: 'work', bash_command: 'touch ../started; while [ ! -e ../go ]; do sleep 0.02; done; echo {{ ds }} >> ../ran.txt'}]}`,
    })
    const first = schedulerFor(root, '2024-01-02T06:00:00Z')
    await first.scheduler.evaluate()
    await waitFor(() => existsSync(join(root, 'started')))
    first.stop()
    await first.scheduler.idle()
    expect(Object.values(readState(root).dags.gated?.runs ?? {}).map((run) => run.state)).not.toContain('success')

    writeFileSync(join(root, 'go'), '')
    await schedulerFor(root, '2024-01-02T07:00:00Z').tick()
    expect(runIds(root, 'gated')).toEqual(['scheduled__2024-01-01T00:00:00+00:00'])
    expect(readState(root).dags.gated?.runs['scheduled__2024-01-01T00:00:00+00:00']?.state).toBe('success')
    expect(linesOf(join(root, 'ran.txt'))).toEqual(['2024-01-01'])
  })

  it('with catchup: false starts only the latest due interval', async () => {
    const root = tmpProject({'dags/daily.mjs': daily('catchup: false,')})
    const {setClock, tick} = schedulerFor(root, '2024-01-10T12:00:00Z')
    await tick()
    expect(runIds(root, 'daily')).toEqual(['scheduled__2024-01-09T00:00:00+00:00'])
    // Three days later only the latest is started; the days in between are skipped, as Airflow does.
    setClock('2024-01-13T12:00:00Z')
    await tick()
    expect(runIds(root, 'daily')).toEqual(['scheduled__2024-01-09T00:00:00+00:00', 'scheduled__2024-01-12T00:00:00+00:00'])
  })

  it('leaves a DAG paused upon creation alone until it is unpaused, and a paused DAG alone', async () => {
    const root = tmpProject({'dags/daily.mjs': daily('is_paused_upon_creation: true,')})
    const {setClock, tick} = schedulerFor(root, '2024-01-03T01:00:00Z')
    await tick()
    expect(runIds(root, 'daily')).toEqual([])
    expect(readState(root).dag_settings).toEqual({daily: {is_paused: true}})

    const store = await openStore(join(root, '.updraft', 'db.json'), {clock: () => new Date('2024-01-03T02:00:00Z'), process: {host: hostname(), isAlive: () => true, pid: process.pid}, writer: null})
    await store.updateDagSettings((settings) => {
      settings.daily = {is_paused: false}
    })
    await tick()
    expect(runIds(root, 'daily')).toEqual(['scheduled__2024-01-01T00:00:00+00:00', 'scheduled__2024-01-02T00:00:00+00:00'])

    await store.updateDagSettings((settings) => {
      settings.daily = {is_paused: true}
    })
    setClock('2024-01-06T01:00:00Z')
    await tick()
    expect(runIds(root, 'daily')).toHaveLength(2)
  })

  it('never runs a date a backfill completed, nor backfills a date the scheduler completed', async () => {
    const root = tmpProject({'dags/daily.mjs': daily()})
    const {tick} = schedulerFor(root, '2024-01-03T01:00:00Z')
    const {backfill} = await import('../../src/index.js')
    const first = await backfill({dagId: 'daily', dagsFolder: join(root, 'dags'), db: join(root, '.updraft', 'db.json'), start: '2024-01-01', end: '2024-01-01'})
    expect(first.runs.map((run) => run.run_id)).toEqual(['backfill__2024-01-01T00:00:00+00:00'])
    await tick()
    expect(runIds(root, 'daily')).toEqual(['backfill__2024-01-01T00:00:00+00:00', 'scheduled__2024-01-02T00:00:00+00:00'])
    await backfill({dagId: 'daily', dagsFolder: join(root, 'dags'), db: join(root, '.updraft', 'db.json'), start: '2024-01-01', end: '2024-01-02'})
    expect(linesOf(join(root, 'ran.txt')).sort()).toEqual(['2024-01-01', '2024-01-02'])
  })

  it('launches what a sensor asks for once, not again while it runs, and polls it on its interval', async () => {
    // The sensor asks for the same date every time; the task waits for a go file, so the first launch is still
    // running when the sensor is polled again. The DAG's own due run is that same date: done by then, not rerun.
    const root = tmpProject({
      'dags/dropped.mjs': `import {appendFileSync} from 'node:fs'
        export default {schedule_interval: '@daily', start_date: '2024-01-01', is_paused_upon_creation: false, catchup: false, end_date: '2024-01-02',
        sensors: [{sensor_id: 'inbox', every: {minutes: 5}, poll: (ctx) => {
          appendFileSync(new URL('../polls.jsonl', import.meta.url), JSON.stringify(ctx) + '\\n')
          return {dates: ['2024-01-02'], conf: {source: 'inbox'}}
        }}],
        tasks: [{task_id: 'load', bash_command: 'while [ ! -e ../go ]; do sleep 0.02; done; echo {{ ds }} >> ../ran.txt'}]}`,
    })
    const {lines, scheduler, setClock} = schedulerFor(root, '2024-01-10T12:00:00Z')
    const polls = () => linesOf(join(root, 'polls.jsonl')).map((line) => JSON.parse(line) as {last: unknown; now: string; sensor_id: string})
    await scheduler.evaluate()
    await waitFor(() => existsSync(join(root, '.updraft', 'db.json')) && Object.keys(readState(root).dags.dropped?.backfills ?? {}).length === 1)
    expect(polls()).toHaveLength(1)
    expect(polls()[0]).toEqual({dag_id: 'dropped', last: null, now: '2024-01-10T12:00:00.000Z', sensor_id: 'inbox'})

    // Within its interval the sensor is not polled; after it, it is, and asks for the same request again.
    setClock('2024-01-10T12:04:00Z')
    await scheduler.evaluate()
    expect(polls()).toHaveLength(1)
    setClock('2024-01-10T12:05:00Z')
    await scheduler.evaluate()
    expect(polls()).toHaveLength(2)
    expect(polls()[1]?.last).toEqual(expect.objectContaining({backfill_id: 1, state: 'running'}))
    expect(lines.join('\n')).toContain('still running; not launched again')

    writeFileSync(join(root, 'go'), '')
    await scheduler.idle()
    const records = Object.values(readState(root).dags.dropped?.backfills ?? {})
    expect(records).toHaveLength(1)
    expect(records[0]?.request.tags).toEqual({sensor: 'inbox'})
    expect(records[0]?.request.conf).toEqual({source: 'inbox'})
    expect(records[0]?.state).toBe('success')
    expect(linesOf(join(root, 'ran.txt'))).toEqual(['2024-01-02'])

    // Polled again once it finished, it asks for a date already done: nothing is launched or recorded.
    setClock('2024-01-10T12:10:00Z')
    await scheduler.evaluate()
    await scheduler.idle()
    expect(polls()[2]?.last).toEqual({backfill_id: 1, conf: {source: 'inbox'}, dates: ['2024-01-02'], request: {conf: {source: 'inbox'}, dates: ['2024-01-02']}, state: 'success'})
    expect(Object.values(readState(root).dags.dropped?.backfills ?? {})).toHaveLength(1)
    expect(scheduler.failed).toBe(0)
  })

  it('reports a sensor that throws and polls it again at its next interval', async () => {
    const root = tmpProject({
      'dags/flaky.mjs': `let calls = 0
        export default {schedule_interval: null, partitions: ['a', 'b'],
        sensors: [{sensor_id: 'flaky', every: 60, poll: () => {
          calls++
          if (calls === 1) throw new Error('the bucket is unreachable')
          return {partitions: ['b']}
        }}],
        tasks: [{task_id: 'load', bash_command: 'echo {{ partition_key }} >> ../ran.txt'}]}`,
    })
    const {lines, scheduler, setClock, tick} = schedulerFor(root, '2024-01-01T00:00:00Z')
    await tick()
    expect(lines).toEqual([expect.stringMatching(/^problem: sensor flaky\/flaky failed: the bucket is unreachable; polled again in 60 s$/)])
    expect(scheduler.failed).toBe(1)
    setClock('2024-01-01T00:01:00Z')
    await tick()
    expect(linesOf(join(root, 'ran.txt'))).toEqual(['b'])
    expect(Object.values(readState(root).dags.flaky?.backfills ?? {}).map((record) => record.request.tags)).toEqual([{sensor: 'flaky'}])
  })
})
