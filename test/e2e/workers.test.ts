import {afterAll, beforeAll, describe, expect, it} from '@jest/globals'
import {type ChildProcess, spawn} from 'node:child_process'
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {alive} from '../helpers/processes.js'
import {startRedis} from '../helpers/redis-server.js'
import {BIN, runCli, shellStatusOf, startCli} from '../helpers/run-cli.js'
import {linesOf, readState, waitFor} from '../helpers/state-file.js'
import {tmpProject} from '../helpers/tmp-project.js'

let redis: {stop: () => void; url: string}
const workers: ChildProcess[] = []
let queues = 0

beforeAll(async () => {
  redis = await startRedis()
})

afterAll(() => {
  for (const worker of workers) worker.kill('SIGKILL')
  redis.stop()
})

/** A fresh queue per test, so no test sees another's jobs. */
function nextQueue(): string {
  queues += 1
  return `q${queues}`
}

function startWorker(root: string, queue: string, env: Record<string, string> = {}): ChildProcess {
  const worker = spawn(process.execPath, [BIN, 'worker', '--concurrency', '2', '--queue', queue, '--redis-url', redis.url], {cwd: root, env: {...process.env, ...env}, stdio: 'ignore'})
  workers.push(worker)
  return worker
}

const bullmq = (queue: string) => ['--executor', 'bullmq', '--queue', queue, '--redis-url', redis.url]
const pipeline = `export default {schedule_interval: '@daily', start_date: '2024-01-01', default_args: {retries: 1, retry_delay: {seconds: 0}},
  tasks: [
    {task_id: 'extract', bash_command: 'printf "extract {{ ds }}\\\\n"; printf "bytes: \\\\001\\\\377 ü\\\\n" >&2'},
    {task_id: 'load', callable: (ctx) => { if (ctx.ds === '2024-01-02' && ctx.try_number === 1) throw new Error('flaky') }, upstream: ['extract']},
  ]}`

describe('--executor bullmq with updraft worker (§12)', () => {
  it('gives the same states as the local executor, and the remote logs byte for byte', async () => {
    const local = tmpProject({'dags/pipeline.mjs': pipeline})
    const remote = tmpProject({'dags/pipeline.mjs': pipeline})
    const queue = nextQueue()
    startWorker(remote, queue)
    const expected = runCli(['dags', 'backfill', 'pipeline', '-s', '2024-01-01', '-e', '2024-01-03', '--json'], {cwd: local})
    const result = runCli(['dags', 'backfill', 'pipeline', '-s', '2024-01-01', '-e', '2024-01-03', '--json', ...bullmq(queue)], {cwd: remote})
    expect(result.code).toBe(0)
    const states = (text: string) => JSON.parse(text).runs.map((run: {state: string; task_instances: object}) => [run.state, run.task_instances])
    expect(states(result.stdout)).toEqual(states(expected.stdout))
    const log = (root: string) => runCli(['tasks', 'logs', 'pipeline', 'extract', '2024-01-02'], {cwd: root}).stdout
    expect(log(remote)).toBe(log(local))
    expect(readState(remote).dags.pipeline?.runs['backfill__2024-01-02T00:00:00+00:00']?.task_instances.load?.try_number).toBe(2)
  })

  it('runs nothing before a worker starts, and says so', async () => {
    const root = tmpProject({'dags/pipeline.mjs': pipeline})
    const queue = nextQueue()
    const backfill = startCli(['dags', 'backfill', 'pipeline', '-s', '2024-01-01', '-e', '2024-01-03', ...bullmq(queue)], {cwd: root})
    await waitFor(() => backfill.output().stderr.includes('NO_WORKERS'))
    expect(readState(root).dags.pipeline?.runs['backfill__2024-01-01T00:00:00+00:00']?.task_instances.extract?.state).toBe('queued')
    startWorker(root, queue)
    const result = await backfill.done
    expect(result.code).toBe(0)
    // Said once for the queue, not once per job waiting in it.
    expect(result.stderr.match(/NO_WORKERS/g)).toHaveLength(1)
  })

  it('records a worker killed mid-task as worker-lost, retries the try elsewhere, and leaves no process behind', async () => {
    const napper = `export default {schedule_interval: '@daily', start_date: '2024-01-01', default_args: {retries: 1, retry_delay: {seconds: 0}},
      tasks: [{task_id: 'nap', bash_command: 'echo $$ >> ../pids; sleep 3'}]}`
    const root = tmpProject({'dags/napper.mjs': napper})
    const queue = nextQueue()
    const doomed = startWorker(root, queue, {UPDRAFT_WORKER_LOCK_MS: '1500'})
    const backfill = startCli(['dags', 'backfill', 'napper', '-s', '2024-01-01', '--json', ...bullmq(queue)], {cwd: root})
    const pids = () => {
      try {
        return readFileSync(join(root, 'pids'), 'utf8').trim().split('\n').map(Number)
      } catch {
        return []
      }
    }

    await waitFor(() => pids().length === 1)
    doomed.kill('SIGKILL')
    startWorker(root, queue, {UPDRAFT_WORKER_LOCK_MS: '1500'})
    await waitFor(() => !alive(pids()[0] as number), 3000)
    const result = await backfill.done
    expect(result.code).toBe(0)
    const nap = readState(root).dags.napper?.runs['backfill__2024-01-01T00:00:00+00:00']?.task_instances.nap
    expect(nap).toMatchObject({state: 'success', try_number: 2})
    expect(nap?.history).toMatchObject([{reason: 'worker-lost', state: 'up_for_retry', try_number: 1}])
  })

  it.each([
    ['Ctrl-C', 130, 'interrupted'],
    ['backfills cancel', 1, 'cancelled'],
  ])('stops a remote task on %s', async (how, exit, reason) => {
    const root = tmpProject({'dags/slow.mjs': `export default {schedule_interval: '@daily', start_date: '2024-01-01', tasks: [{task_id: 'nap', bash_command: 'echo $$ > ../pid; sleep 30'}]}`})
    const queue = nextQueue()
    startWorker(root, queue)
    const backfill = startCli(['dags', 'backfill', 'slow', '-s', '2024-01-01', ...bullmq(queue)], {cwd: root})
    await waitFor(() => {
      try {
        return readFileSync(join(root, 'pid'), 'utf8').trim() !== ''
      } catch {
        return false
      }
    })
    const sleeper = Number(readFileSync(join(root, 'pid'), 'utf8'))
    let cancelExit: null | number = 0
    if (how === 'Ctrl-C') backfill.child.kill('SIGINT')
    else cancelExit = runCli(['backfills', 'cancel', '1'], {cwd: root}).code
    expect((await backfill.done).code).toBe(exit)
    expect(cancelExit).toBe(0)
    await waitFor(() => !alive(sleeper), 3000)
    expect(readState(root).dags.slow?.runs['backfill__2024-01-01T00:00:00+00:00']?.task_instances.nap).toMatchObject({reason, state: 'none'})
  })

  it('refuses a try on a worker whose DAG file differs', async () => {
    const coordinator = tmpProject({'dags/pipeline.mjs': pipeline})
    const elsewhere = tmpProject({'dags/pipeline.mjs': `${pipeline}\n// edited on the worker\n`})
    const queue = nextQueue()
    startWorker(elsewhere, queue)
    const result = runCli(['dags', 'backfill', 'pipeline', '-s', '2024-01-01', '--disable-retry', ...bullmq(queue)], {cwd: coordinator})
    expect(result.code).toBe(1)
    expect(result.stdout).toMatch(/extract +2024-01-01 +1 +failed +dag-version-mismatch/)
    expect(result.stdout).toContain("dag-version-mismatch: a worker's copy of the DAG file differs from this one")
    expect(runCli(['tasks', 'logs', 'pipeline', 'extract', '2024-01-01'], {cwd: coordinator}).stdout).toContain('DAG_VERSION_MISMATCH')
    writeFileSync(join(elsewhere, 'touched'), '')
  })

  it('says clearly when Redis cannot be reached, and leaves the state alone', () => {
    const root = tmpProject({'dags/pipeline.mjs': pipeline})
    const result = runCli(['dags', 'backfill', 'pipeline', '-s', '2024-01-01', '--executor', 'bullmq', '--redis-url', 'unix:///nonexistent/redis.sock'], {cwd: root})
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('Code: REDIS_UNREACHABLE')
    expect(result.stderr.split('\n')[0]).toContain('unix:///nonexistent/redis.sock')
    expect(existsSync(join(root, '.updraft'))).toBe(false)
  })
})

describe('a backfill on workers stopped by a signal sent to its process group (as timeout(1) sends it)', () => {
  it('stops its running tries, takes its waiting jobs out of the queue, finishes its record and prints the summary', async () => {
    const root = tmpProject({'dags/sleepy.mjs': `export default {schedule_interval: '@daily', start_date: '2024-01-01', tasks: [{task_id: 'nap', bash_command: 'echo {{ ds }} >> ../ran; sleep 5'}]}`})
    const queue = nextQueue()
    const worker = startWorker(root, queue)
    const backfill = startCli(['dags', 'backfill', 'sleepy', '-s', '2024-01-01', '-e', '2024-01-04', ...bullmq(queue)], {cwd: root})
    // Two tries run on the worker (concurrency 2); two wait in the queue.
    await waitFor(() => linesOf(join(root, 'ran')).length === 2)
    // The child, then its group: the same signal again while the first is still being acted on.
    backfill.child.kill('SIGTERM')
    await new Promise((resolve) => {
      setTimeout(resolve, 30)
    })
    backfill.child.kill('SIGTERM')
    const result = await backfill.done
    // The repeat can land after the summary, while Node is already exiting and no longer handles signals: the
    // shell (and timeout --preserve-status) then reads the same 143 as from exit(143).
    expect({status: shellStatusOf(result), stdout: result.stdout}).toMatchObject({status: 143, stdout: expect.stringContaining('Backfill of sleepy interrupted')})
    const record = JSON.parse(runCli(['backfills', 'show', '1', '--json'], {cwd: root}).stdout) as {finished_at: null | string; state: string}
    expect(record.state).toBe('interrupted')
    expect(record.finished_at).not.toBeNull()

    // Nothing is left for the worker: no task runs with nobody recording it.
    await new Promise((resolve) => {
      setTimeout(resolve, 3000)
    })
    worker.kill('SIGKILL')
    expect(linesOf(join(root, 'ran'))).toHaveLength(2)
    expect(Object.values(readState(root).dags.sleepy?.runs ?? {}).map((run) => run.task_instances.nap?.state)).toEqual(['none', 'none', 'none', 'none'])
  })
})

describe('backfills cancel of a backfill whose worker died', () => {
  it('waits for the backfill to give the lost try up, and says it was cancelled', async () => {
    const root = tmpProject({'dags/slow.mjs': `export default {schedule_interval: '@daily', start_date: '2024-01-01', tasks: [{task_id: 'nap', bash_command: 'echo $$ > ../pid; sleep 30'}]}`})
    const queue = nextQueue()
    const worker = startWorker(root, queue)
    const backfill = startCli(['dags', 'backfill', 'slow', '-s', '2024-01-01', ...bullmq(queue)], {cwd: root})
    await waitFor(() => linesOf(join(root, 'pid')).length === 1)
    worker.kill('SIGKILL')
    const cancel = runCli(['backfills', 'cancel', '1'], {cwd: root})
    expect(cancel.stderr).toBe('')
    expect(cancel.code).toBe(0)
    expect(cancel.stdout).toMatch(/^Cancelled backfill 1 of slow in \d+ ms; it reads cancelled\.$/m)
    expect((await backfill.done).code).toBe(1)
  })
})

describe('a worker whose Redis has gone away', () => {
  it('still stops on SIGTERM, within its grace, saying what went wrong once', async () => {
    const own = await startRedis()
    const root = tmpProject({})
    const worker = startCli(['worker', '--queue', nextQueue(), '--redis-url', own.url, '--shutdown-grace', '1'], {cwd: root})
    workers.push(worker.child)
    await waitFor(() => worker.output().stdout.includes('is taking task instances'))
    own.stop()
    await waitFor(() => worker.output().stderr.includes('Problem:'))
    // Reconnection attempts go on meanwhile; each must not print again.
    await new Promise((resolve) => {
      setTimeout(resolve, 1500)
    })
    worker.child.kill('SIGTERM')
    const result = await worker.done
    expect(result.code).toBe(1)
    const lines = result.stderr.trim().split('\n')
    expect(new Set(lines).size).toBe(lines.length)
    expect(lines.every((line) => line.startsWith('Problem: Redis at '))).toBe(true)
    expect(result.stderr).not.toMatch(/\bat .*:\d+:\d+\)?$/m)
  }, 20_000)
})

describe('a worker stopped with SIGTERM', () => {
  it('lets a running try finish within the grace period, and after it the try is lost', async () => {
    const napper = (seconds: number) => `export default {schedule_interval: '@daily', start_date: '2024-01-01', tasks: [{task_id: 'nap', bash_command: 'echo started >> ../starts; sleep ${seconds}'}]}`
    for (const [seconds, grace, state, reason] of [
      [1, '10', 'success', null],
      [30, '1', 'failed', 'worker-lost'],
    ] as const) {
      const root = tmpProject({'dags/napper.mjs': napper(seconds)})
      const queue = nextQueue()
      const worker = spawn(process.execPath, [BIN, 'worker', '--queue', queue, '--redis-url', redis.url, '--shutdown-grace', grace], {cwd: root, stdio: 'ignore'})
      workers.push(worker)
      const exited = new Promise((resolve) => {
        worker.on('exit', resolve)
      })
      const backfill = startCli(['dags', 'backfill', 'napper', '-s', '2024-01-01', ...bullmq(queue)], {cwd: root})
      await waitFor(() => {
        try {
          return readFileSync(join(root, 'starts'), 'utf8').includes('started')
        } catch {
          return false
        }
      })
      worker.kill('SIGTERM')
      await exited
      expect((await backfill.done).code).toBe(state === 'success' ? 0 : 1)
      expect(readState(root).dags.napper?.runs['backfill__2024-01-01T00:00:00+00:00']?.task_instances.nap).toMatchObject({reason, state})
    }
  })
})

describe('a coordinator killed while its tries run on workers', () => {
  it('is restarted and adopts the tries instead of running them again', async () => {
    const napper = `export default {schedule_interval: '@daily', start_date: '2024-01-01', tasks: [{task_id: 'nap', bash_command: 'echo {{ ds }} >> ../starts; while [ ! -e ../go ]; do sleep 0.05; done; sleep 2'}]}`
    const root = tmpProject({'dags/napper.mjs': napper})
    const queue = nextQueue()
    startWorker(root, queue)
    const args = ['dags', 'backfill', 'napper', '-s', '2024-01-01', '-e', '2024-01-02', '--json', ...bullmq(queue)]
    const first = startCli(args, {cwd: root})
    const starts = () => {
      try {
        return readFileSync(join(root, 'starts'), 'utf8').trim().split('\n')
      } catch {
        return []
      }
    }

    const nap = (day: string) => {
      const result = runCli(['tasks', 'states-for-dag-run', 'napper', day, '--json'], {cwd: root})
      return (JSON.parse(result.stdout) as {task_instances: Array<Record<string, unknown>>}).task_instances[0]
    }

    await waitFor(() => starts().length === 2)
    // The worker was waiting before the backfill queued anything, so it took both tries at once: both read running.
    await waitFor(() => ['2024-01-01', '2024-01-02'].every((day) => nap(day)?.state === 'running'), 60_000)
    first.child.kill('SIGKILL')
    await first.done
    // The tries go on running on the worker, however long the checks above took on a busy machine.
    writeFileSync(join(root, 'go'), '')
    const again = runCli(args, {cwd: root})
    expect(again.code).toBe(0)
    expect(starts().sort()).toEqual(['2024-01-01', '2024-01-02'])
    expect(JSON.parse(again.stdout).runs.map((run: {state: string}) => run.state)).toEqual(['success', 'success'])
    // Recorded as the one try that ran, for as long as it ran, with its (empty) log.
    for (const day of ['2024-01-01', '2024-01-02']) {
      const adopted = readState(root).dags.napper?.runs[`backfill__${day}T00:00:00+00:00`]?.task_instances.nap
      expect(adopted).toMatchObject({history: [], state: 'success', try_number: 1})
      expect(adopted?.duration_ms).toBeGreaterThanOrEqual(1900)
      expect(runCli(['tasks', 'logs', 'napper', 'nap', day], {cwd: root}).code).toBe(0)
    }
  })
})
