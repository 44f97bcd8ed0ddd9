import {afterAll, beforeAll, describe, expect, it} from '@jest/globals'
import {type ChildProcess, spawn} from 'node:child_process'
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {alive, reapAfterAll} from '../helpers/processes.js'
import {startRedis} from '../helpers/redis-server.js'
import {BIN, runCli, startCli} from '../helpers/run-cli.js'
import {linesOf, readState, waitFor} from '../helpers/state-file.js'
import {tmpProject} from '../helpers/tmp-project.js'

const cli = (root: string, ...args: string[]) => runCli(args, {cwd: root})
const json = (root: string, ...args: string[]) => JSON.parse(cli(root, ...args, '--json').stdout)
/** A calendar day relative to today (UTC), as a DAG file writes start_date. */
const daysAgo = (days: number) => new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 10)

// Three due days since its start_date; each run appends its date, so a date run twice would show.
const daily = `export default {schedule_interval: '@daily', start_date: '${daysAgo(3)}',
  tasks: [{task_id: 'report', bash_command: 'echo {{ ds }} >> ../daily.txt'}]}`
// A file-drop sensor: each file in inbox/ named after a date asks for that date; the DAG itself is not scheduled.
const dropped = `import {existsSync, readdirSync} from 'node:fs'
export default {schedule_interval: '@daily', start_date: '2024-01-01', catchup: false, is_paused_upon_creation: true,
  sensors: [{sensor_id: 'inbox', every: {seconds: 30}, poll: () => {
    const files = existsSync('inbox') ? readdirSync('inbox').sort() : []
    return files.length === 0 ? null : {dates: files.map((file) => file.replace(/\\.csv$/, '')), tags: {team: 'sales'}}
  }}],
  tasks: [{task_id: 'load', bash_command: 'echo {{ ds }} >> ../dropped.txt'}]}`

const pids = reapAfterAll()

describe('updraft scheduler --once (§14)', () => {
  it('starts every due interval once, launches what sensors ask for, and exits 0 when all of it succeeded', () => {
    const root = tmpProject({'dags/daily.mjs': daily, 'dags/dropped.mjs': dropped.replace('is_paused_upon_creation: true', 'is_paused_upon_creation: false')})
    mkdirSync(join(root, 'inbox'))
    writeFileSync(join(root, 'inbox', '2024-03-01.csv'), '')
    writeFileSync(join(root, 'inbox', '2024-03-02.csv'), '')
    const first = cli(root, 'scheduler', '--once')
    expect(first.stderr).toBe('')
    expect(first.code).toBe(0)
    expect(first.stdout).toMatch(/daily: starting 3 scheduled run\(s\)/)
    expect(first.stdout).toMatch(/sensor dropped\/inbox: backfill 1 of dropped succeeded/)
    expect(linesOf(join(root, 'daily.txt')).sort()).toEqual([daysAgo(3), daysAgo(2), daysAgo(1)])
    expect(Object.keys(readState(root).dags.daily?.runs ?? {}).sort()).toEqual([3, 2, 1].map((days) => `scheduled__${daysAgo(days)}T00:00:00+00:00`))

    const records = json(root, 'backfills', 'list')
    expect(records).toHaveLength(1)
    expect(records[0]).toEqual(expect.objectContaining({dag_id: 'dropped', state: 'success'}))
    expect(records[0].request.tags).toEqual({sensor: 'inbox', team: 'sales'})
    expect(cli(root, 'backfills', 'show', '1').stdout).toMatch(/tags +team: sales, sensor: inbox/)
    expect(linesOf(join(root, 'dropped.txt'))).toEqual(expect.arrayContaining(['2024-03-01', '2024-03-02']))

    // Again: nothing is due, the sensor asks for dates already done; nothing runs twice and nothing is recorded.
    const second = cli(root, 'scheduler', '--once')
    expect(second.code).toBe(0)
    expect(linesOf(join(root, 'daily.txt'))).toHaveLength(3)
    expect(linesOf(join(root, 'dropped.txt')).filter((line) => line.startsWith('2024-03'))).toHaveLength(2)
    expect(json(root, 'backfills', 'list')).toHaveLength(1)
    // A backfill of the scheduled days finds them complete.
    expect(cli(root, 'dags', 'backfill', 'daily', '-s', daysAgo(3), '-e', daysAgo(1)).code).toBe(0)
    expect(linesOf(join(root, 'daily.txt'))).toHaveLength(3)
  })

  it('exits 1 when a run fails or a sensor throws, and says which', () => {
    const root = tmpProject({
      'dags/broken.mjs': `export default {schedule_interval: '@daily', start_date: '${daysAgo(1)}', tasks: [{task_id: 'fail', bash_command: 'exit 3'}]}`,
    })
    const failing = cli(root, 'scheduler', '--once')
    expect(failing.code).toBe(1)
    expect(failing.stdout).toMatch(/broken: scheduled run\(s\) .* failed/)

    const throwing = tmpProject({
      'dags/sensing.mjs': `export default {schedule_interval: null, partitions: ['a'], sensors: [{sensor_id: 'boom', every: 60, poll: () => { throw new Error('no credentials') }}],
        tasks: [{task_id: 't', bash_command: 'true'}]}`,
    })
    const thrown = cli(throwing, 'scheduler', '--once')
    expect(thrown.code).toBe(1)
    expect(thrown.stderr).toMatch(/sensor sensing\/boom failed: no credentials/)
  })

  it('leaves paused DAGs alone: is_paused_upon_creation, dags pause and unpause, shown by dags list', () => {
    const root = tmpProject({'dags/daily.mjs': daily, 'dags/dropped.mjs': dropped})
    mkdirSync(join(root, 'inbox'))
    writeFileSync(join(root, 'inbox', '2024-03-01.csv'), '')
    expect(cli(root, 'dags', 'pause', 'daily').stdout).toContain('Paused daily')
    const listed = json(root, 'dags', 'list').dags
    expect(listed.map((dag: {dag_id: string; is_paused: boolean; next_due: string}) => [dag.dag_id, dag.is_paused, dag.next_due])).toEqual([
      ['daily', true, `${daysAgo(3)}T00:00:00.000Z`],
      ['dropped', true, `${daysAgo(1)}T00:00:00.000Z`],
    ])
    expect(cli(root, 'dags', 'list').stdout).toMatch(/daily\s+@daily\s+UTC\s+1\s+yes\s+\d{4}-\d{2}-\d{2}/)

    expect(cli(root, 'scheduler', '--once').code).toBe(0)
    expect(readState(root).dags.daily?.runs ?? {}).toEqual({})
    expect(readState(root).dags.dropped?.runs ?? {}).toEqual({})

    expect(json(root, 'dags', 'unpause', 'dropped')).toEqual({dag_id: 'dropped', is_paused: false})
    expect(cli(root, 'scheduler', '--once').code).toBe(0)
    expect(linesOf(join(root, 'dropped.txt'))).toContain('2024-03-01')
    expect(readState(root).dags.daily?.runs ?? {}).toEqual({})
    expect(cli(root, 'dags', 'pause', 'nodag').stderr).toContain('Code: DAG_NOT_FOUND')
  })
})

describe('updraft scheduler and a backfill started elsewhere', () => {
  it('leaves due runs another backfill owns for later, and --once says so and exits 1', async () => {
    const root = tmpProject({
      'dags/busy.mjs': `export default {schedule_interval: '@daily', start_date: '${daysAgo(5)}',
        tasks: [{task_id: 't', bash_command: 'if [ {{ ds }} = ${daysAgo(5)} ]; then touch ../started; sleep 30; fi; echo {{ ds }} >> ../busy.txt'}]}`,
    })
    const backfill = startCli(['dags', 'backfill', 'busy', '-s', daysAgo(5)], {cwd: root})
    pids.push(backfill.child.pid as number)
    await waitFor(() => existsSync(join(root, 'started')))
    const once = cli(root, 'scheduler', '--once')
    expect(once.code).toBe(1)
    expect(once.stderr).toContain(`busy: its due runs did not start: Expected the runs of busy this backfill covers to be free, got ${daysAgo(5)} (backfill__${daysAgo(5)}T00:00:00+00:00) owned by a backfill running as pid ${backfill.child.pid}`)
    expect(linesOf(join(root, 'busy.txt'))).toEqual([])
    backfill.child.kill('SIGINT')
    await backfill.done
  })
})

describe('updraft scheduler beside a backfill of other dates of the same DAG', () => {
  it('starts the due run at once, while the backfill still owns its own dates', async () => {
    const root = tmpProject({
      'dags/shared.mjs': `export default {schedule_interval: '@daily', start_date: '2024-01-01', catchup: false,
        tasks: [{task_id: 't', bash_command: 'if [ {{ ds }} = 2024-01-01 ]; then touch ../started; sleep 30; fi; echo {{ ds }} >> ../shared.txt'}]}`,
    })
    const backfill = startCli(['dags', 'backfill', 'shared', '-s', '2024-01-01'], {cwd: root})
    pids.push(backfill.child.pid as number)
    await waitFor(() => existsSync(join(root, 'started')))
    const once = cli(root, 'scheduler', '--once')
    expect(once.stderr).toBe('')
    expect(once.code).toBe(0)
    expect(linesOf(join(root, 'shared.txt'))).toEqual([daysAgo(1)])
    expect(backfill.child.exitCode).toBeNull()
    backfill.child.kill('SIGINT')
    await backfill.done
  })
})

describe('updraft scheduler until stopped', () => {
  it('stops what it started on SIGTERM, as a backfill stops, and leaves no process behind', async () => {
    const root = tmpProject({
      'dags/sleepy.mjs': `export default {schedule_interval: '@daily', start_date: '${daysAgo(1)}', tasks: [{task_id: 'nap', bash_command: 'echo $$ > ../nap.pid; sleep 30'}]}`,
    })
    const scheduler = startCli(['scheduler'], {cwd: root})
    pids.push(scheduler.child.pid as number)
    await waitFor(() => linesOf(join(root, 'nap.pid')).length > 0)
    const nap = Number(readFileSync(join(root, 'nap.pid'), 'utf8'))
    scheduler.child.kill('SIGTERM')
    const result = await scheduler.done
    expect(result.code).toBe(143)
    expect(result.stdout).toContain('Scheduler started')
    expect(result.stdout).toMatch(/sleepy: scheduled run\(s\) .* was stopped/)
    expect(alive(nap)).toBe(false)
    const run = Object.values(readState(root).dags.sleepy?.runs ?? {})[0]
    expect(run?.task_instances.nap?.state).toBe('none')
    expect(run?.task_instances.nap?.reason).toBe('interrupted')
  })
})

describe('updraft scheduler --executor bullmq', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>
  const workers: ChildProcess[] = []
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(() => {
    for (const worker of workers) worker.kill('SIGKILL')
    redis.stop()
  })

  it('runs the due intervals on a worker', async () => {
    const root = tmpProject({'dags/daily.mjs': daily.replace('echo {{ ds }}', 'echo {{ ds }} $UPDRAFT_WORKER_MARK')})
    const worker = spawn(process.execPath, [BIN, 'worker', '--queue', 'sched', '--redis-url', redis.url], {cwd: root, env: {...process.env, UPDRAFT_WORKER_MARK: 'on-worker'}, stdio: 'ignore'})
    workers.push(worker)
    const result = runCli(['scheduler', '--once', '--executor', 'bullmq', '--queue', 'sched', '--redis-url', redis.url], {cwd: root})
    expect(result.code).toBe(0)
    expect(linesOf(join(root, 'daily.txt')).sort()).toEqual([3, 2, 1].map((days) => `${daysAgo(days)} on-worker`))
  })
})
