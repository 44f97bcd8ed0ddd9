import {describe, expect, it} from '@jest/globals'
import {spawn, spawnSync} from 'node:child_process'
import {chmodSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {BIN, runCli, startCli} from '../helpers/run-cli.js'
import {linesOf, readState, tiStates, waitFor} from '../helpers/state-file.js'
import {alive, reapAfterAll} from '../helpers/processes.js'
import {tmpProject} from '../helpers/tmp-project.js'

// `quick` succeeds at once; `long` sleeps (in a child of the task's shell) unless ../release exists.
const blocking = `export default {schedule_interval: '@daily', start_date: '2024-01-01', max_active_runs: 4,
  tasks: [
    {task_id: 'quick', bash_command: 'echo "quick {{ ds }}" >> ../runs.txt'},
    {task_id: 'long', bash_command: 'echo "long {{ ds }}" >> ../runs.txt; [ -f ../release ] && exit 0; mkdir -p ../pids; (sleep 60 & echo $! > ../pids/{{ ds }}.sleep; wait)', upstream: ['quick']},
  ]}`

const spawned = reapAfterAll()

const sleepPids = (root: string) => {
  try {
    return readdirSync(join(root, 'pids')).map((name) => Number(readFileSync(join(root, 'pids', name), 'utf8')))
  } catch {
    return []
  }
}

const noneRunning = (root: string) =>
  Object.values(tiStates(root, 'blocking')).every((tis) => Object.values(tis).every((state) => !['queued', 'running', 'scheduled'].includes(state)))

describe.each([
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const)('%s during a backfill', (signal, exitCode) => {
  it(`stops the task process groups, leaves nothing running, exits ${exitCode}, and a re-run completes`, async () => {
    const root = tmpProject({'dags/blocking.mjs': blocking})
    const backfill = startCli(['dags', 'backfill', 'blocking', '-s', '2024-01-01', '-e', '2024-01-03', '--parallelism', '4'], {cwd: root})
    await waitFor(() => sleepPids(root).length === 3)
    const sleepers = sleepPids(root)
    spawned.push(...sleepers)
    backfill.child.kill(signal)
    const result = await backfill.done
    expect(result.code).toBe(exitCode)
    await waitFor(() => sleepers.every((pid) => !alive(pid)), 5000)
    expect(noneRunning(root)).toBe(true)
    const long = readState(root).dags.blocking?.runs['backfill__2024-01-02T00:00:00+00:00']?.task_instances.long
    expect(long).toMatchObject({reason: 'interrupted', state: 'none'})
    expect(long?.history.at(-1)).toMatchObject({reason: 'interrupted', try_number: 1})

    writeFileSync(join(root, 'release'), '')
    const rerun = runCli(['dags', 'backfill', 'blocking', '-s', '2024-01-01', '-e', '2024-01-03'], {cwd: root})
    expect(rerun.code).toBe(0)
    expect(linesOf(join(root, 'runs.txt')).filter((line) => line.startsWith('quick'))).toHaveLength(3)
    expect(Object.values(tiStates(root, 'blocking')).flatMap((tis) => Object.values(tis))).toEqual(Array(6).fill('success'))
  })
})

describe('Ctrl-C typed on a terminal', () => {
  it('stops the live tree view cleanly: exit 130, nothing left running, summary printed', async () => {
    const root = tmpProject({'dags/blocking.mjs': blocking})
    // script(1) gives the CLI a real terminal, so listr2 draws its tree and the ^C goes through the tty driver.
    const command = `stty cols 120 rows 40; ${process.execPath} ${BIN} dags backfill blocking -s 2024-01-01 -e 2024-01-02 --parallelism 4`
    const terminal = spawn('script', ['-qfec', command, '/dev/null'], {cwd: root, env: {...process.env, CI: undefined, NODE_ENV: undefined}, stdio: ['pipe', 'pipe', 'pipe']})
    let screen = ''
    terminal.stdout.on('data', (chunk) => (screen += chunk))
    const exited = new Promise<null | number>((resolve) => {
      terminal.on('close', resolve)
    })
    await waitFor(() => sleepPids(root).length === 2)
    const sleepers = sleepPids(root)
    spawned.push(...sleepers)
    terminal.stdin.write('\u0003')
    expect(await exited).toBe(130)
    expect(screen).toContain('Backfill blocking')
    expect(screen).toContain('interrupted')
    await waitFor(() => sleepers.every((pid) => !alive(pid)), 5000)
    expect(noneRunning(root)).toBe(true)
  })
})

describe('a second Ctrl-C', () => {
  it('kills what runs and exits at once while the first is still stopping a task that ignores SIGTERM', async () => {
    const stubborn = `export default {schedule_interval: '@daily', start_date: '2024-01-01',
      tasks: [{task_id: 'stubborn', bash_command: "trap '' TERM; mkdir -p ../pids; (trap '' TERM; sleep 60) & echo $! > ../pids/{{ ds }}.sleep; wait"}]}`
    const root = tmpProject({'dags/stubborn.mjs': stubborn})
    const backfill = startCli(['dags', 'backfill', 'stubborn', '-s', '2024-01-01'], {cwd: root})
    await waitFor(() => sleepPids(root).length === 1)
    spawned.push(...sleepPids(root))
    backfill.child.kill('SIGINT')
    await waitFor(() => backfill.output().stdout.includes('Interrupted'))
    backfill.child.kill('SIGINT')
    const result = await backfill.done
    expect(result.code).toBe(130)
    // It did not wait for the clean stop to finish: no summary was printed, and the task was killed outright.
    expect(result.stdout).not.toContain('Backfill of stubborn')
    await waitFor(() => sleepPids(root).every((pid) => !alive(pid)), 5000)
    expect(readdirSync(join(root, '.updraft')).some((name) => name.endsWith('.lock'))).toBe(false)
  })
})

describe('kill -9 of the CLI', () => {
  it('leaves a readable state file; the stale lock is taken over and a re-run finishes without redoing successes', async () => {
    const root = tmpProject({'dags/blocking.mjs': blocking})
    const backfill = startCli(['dags', 'backfill', 'blocking', '-s', '2024-01-01', '-e', '2024-01-03', '--parallelism', '4'], {cwd: root})
    await waitFor(() => sleepPids(root).length === 3)
    spawned.push(...sleepPids(root))
    const sleepers = sleepPids(root)
    backfill.child.kill('SIGKILL')
    await backfill.done
    // No orphan: the spawn server sees its parent go (end of its input) and kills every process group it started.
    await waitFor(() => sleepers.every((pid) => !alive(pid)), 2000)
    expect(Object.keys(readState(root).dags.blocking?.runs ?? {})).toHaveLength(3)

    // Nothing is running any more, and the inspection commands say so rather than repeat what the dead process wrote.
    const runs = JSON.parse(runCli(['dags', 'list-runs', 'blocking', '--json'], {cwd: root}).stdout) as {runs: Array<{state: string}>}
    expect(runs.runs.map((run) => run.state)).toEqual(['queued', 'queued', 'queued'])
    const tis = JSON.parse(runCli(['tasks', 'states-for-dag-run', 'blocking', '2024-01-02', '--json'], {cwd: root}).stdout) as {task_instances: Array<{reason: string; state: string; task_id: string}>}
    expect(tis.task_instances.find((ti) => ti.task_id === 'long')).toMatchObject({reason: 'interrupted', state: 'none'})
    // The plan says what a re-run will do with what the dead process left running.
    const dryRun = runCli(['dags', 'backfill', 'blocking', '-s', '2024-01-01', '-e', '2024-01-03', '--dry-run'], {cwd: root})
    expect(dryRun.stdout.match(/recover: long \(left running by a process that is gone\)/g)).toHaveLength(3)

    // Every quick success was journaled before its event, so none is lost even though the file was never flushed.
    writeFileSync(join(root, 'release'), '')
    const rerun = runCli(['dags', 'backfill', 'blocking', '-s', '2024-01-01', '-e', '2024-01-03'], {cwd: root})
    expect(rerun.code).toBe(0)
    expect(linesOf(join(root, 'runs.txt')).filter((line) => line.startsWith('quick'))).toHaveLength(3)
    const long = readState(root).dags.blocking?.runs['backfill__2024-01-01T00:00:00+00:00']?.task_instances.long
    expect(long).toMatchObject({state: 'success', try_number: 2})
    expect(long?.history[0]).toMatchObject({reason: 'interrupted', state: 'running'})
  })
})

describe('concurrent backfills of one DAG (ownership per run)', () => {
  it('runs one over other dates beside a live one, refuses one that overlaps it naming the shared run, and both records stay whole', async () => {
    const root = tmpProject({'dags/blocking.mjs': blocking})
    const first = startCli(['dags', 'backfill', 'blocking', '-s', '2024-01-01', '-e', '2024-01-02'], {cwd: root})
    await waitFor(() => sleepPids(root).length === 2)
    spawned.push(...sleepPids(root))
    const overlapping = runCli(['dags', 'backfill', 'blocking', '-s', '2024-01-02', '-e', '2024-01-05'], {cwd: root})
    expect(overlapping.code).toBe(1)
    expect(overlapping.stderr).toContain('Code: BACKFILL_LOCKED')
    expect(overlapping.stderr).toContain(`got 2024-01-02 (backfill__2024-01-02T00:00:00+00:00) owned by a backfill running as pid ${first.child.pid}`)
    writeFileSync(join(root, 'release'), '')
    const beside = runCli(['dags', 'backfill', 'blocking', '-s', '2024-01-03', '-e', '2024-01-04', '--json'], {cwd: root})
    expect(beside.code).toBe(0)
    expect((JSON.parse(beside.stdout) as {runs: Array<{state: string}>}).runs.map((run) => run.state)).toEqual(['success', 'success'])
    // The first still runs its own dates; stopped, it keeps them, and the other backfill's runs are untouched.
    expect(first.child.exitCode).toBeNull()
    first.child.kill('SIGINT')
    expect((await first.done).code).toBe(130)
    const states = tiStates(root, 'blocking')
    expect(states['2024-01-03']).toEqual({long: 'success', quick: 'success'})
    expect(states['2024-01-04']).toEqual({long: 'success', quick: 'success'})
    expect(states['2024-01-01']).toEqual({long: 'none', quick: 'success'})
    const records = JSON.parse(runCli(['backfills', 'list', '--json'], {cwd: root}).stdout) as Array<{id: number; state: string}>
    expect(records.map((record) => [record.id, record.state]).sort()).toEqual([
      [1, 'interrupted'],
      [2, 'success'],
    ])
    expect(readdirSync(join(root, '.updraft')).filter((name) => /lock|claim/.test(name))).toEqual([])
  })
})

describe('kill -9 of the CLI while its spawn helper is slow to notice', () => {
  it('still stops every task group: the helper outlives reporting exits to its dead parent', async () => {
    // `gate_N` tasks end together once ../go exists; `long` keeps running until it is stopped.
    const gates = ['gate_1', 'gate_2', 'gate_3'].map((id) => `{task_id: '${id}', bash_command: 'while [ ! -f ../go ]; do sleep 0.02; done'}`)
    const dag = `export default {schedule_interval: '@daily', start_date: '2024-01-01', tasks: [${gates.join(', ')},
      {task_id: 'long', bash_command: 'mkdir -p ../pids; (sleep 60 & echo $! > ../pids/{{ ds }}.sleep; wait)'}]}`
    const root = tmpProject({'dags/gated.mjs': dag})
    const backfill = startCli(['dags', 'backfill', 'gated', '-s', '2024-01-01', '--parallelism', '4'], {cwd: root})
    await waitFor(() => sleepPids(root).length === 1)
    const sleepers = sleepPids(root)
    spawned.push(...sleepers)
    const helper = Number(spawnSync('pgrep', ['-P', String(backfill.child.pid), 'spawn-helper'], {encoding: 'utf8'}).stdout.trim())
    expect(helper).toBeGreaterThan(0)
    // Frozen, the helper misses the gates' exits until after its parent is gone, then reports them into a closed pipe.
    process.kill(helper, 'SIGSTOP')
    writeFileSync(join(root, 'go'), '')
    await new Promise((resolve) => {
      setTimeout(resolve, 300)
    })
    backfill.child.kill('SIGKILL')
    await backfill.done
    process.kill(helper, 'SIGCONT')
    await waitFor(() => sleepers.every((pid) => !alive(pid)) && !alive(helper), 5000)
  })
})

/** Sets the mode of `path` and everything under it, as `chmod -R` does. */
function chmodTree(path: string, write: boolean): void {
  const mode = statSync(path).mode & 0o7777
  chmodSync(path, write ? mode | 0o200 : mode & ~0o222)
  if (statSync(path).isDirectory()) for (const name of readdirSync(path)) chmodTree(join(path, name), write)
}

describe('a state folder that turns read-only mid-run', () => {
  it('stops the backfill as Ctrl-C would, shows only what was recorded, and ends with STATE_FILE_UNWRITABLE', async () => {
    const dag = `export default {schedule_interval: '@daily', start_date: '2024-01-01',
      tasks: [{task_id: 'a', bash_command: 'sleep 0.2'}, {task_id: 'b', bash_command: 'sleep 0.2', upstream: ['a']}]}`
    const root = tmpProject({'dags/many.mjs': dag})
    const command = [process.execPath, BIN, 'dags', 'backfill', 'many', '-s', '2024-01-01', '-e', '2024-01-20', '--parallelism', '2']
    // Root writes to read-only folders; without CAP_DAC_OVERRIDE it is held to the modes like any user.
    const asUser = process.getuid?.() === 0 ? ['setpriv', '--bounding-set=-dac_override,-dac_read_search,-fowner', '--'] : []
    const argv = [...asUser, ...command]
    const backfill = spawn(argv[0] as string, argv.slice(1), {cwd: root, env: {...process.env, CI: 'true', NO_COLOR: '1', NODE_ENV: undefined}, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    backfill.stdout.on('data', (chunk) => (stdout += chunk))
    backfill.stderr.on('data', (chunk) => (stderr += chunk))
    const code = new Promise<null | number>((resolve) => {
      backfill.on('close', resolve)
    })
    const folder = join(root, '.updraft')
    try {
      await waitFor(() => (stdout.match(/ success /g) ?? []).length >= 6)
      chmodTree(folder, false)
      expect(await code).toBe(1)
    } finally {
      chmodTree(folder, true)
    }

    expect(stderr).toMatch(/^Error: Expected to [^\n]+, got EACCES: [^\n]+\nCode: STATE_FILE_UNWRITABLE\n$/)
    expect(stdout).toContain('Interrupted (STATE_FILE_UNWRITABLE)')
    expect(stdout).toMatch(/Backfill of many interrupted in /)
    // Every success shown was recorded, and the summary counts what was recorded.
    const recorded = JSON.parse(runCli(['backfills', 'show', '1', '--json'], {cwd: root}).stdout) as {runs: Array<{logical_date: string; task_instances: Record<string, string>}>}
    const stateOf = new Map(recorded.runs.flatMap((run) => Object.entries(run.task_instances).map(([task, state]) => [`${run.logical_date.slice(0, 10)} ${task}`, state])))
    const shown = [...stdout.matchAll(/^(\d{4}-\d{2}-\d{2} \w+) success /gm)].map((match) => match[1])
    expect(shown.length).toBeGreaterThanOrEqual(6)
    for (const ti of shown) expect(stateOf.get(ti as string)).toBe('success')
    const successes = [...stateOf.values()].filter((state) => state === 'success').length
    expect(stdout).toMatch(new RegExp(`task instances: ${successes} success`))
    // Nothing is left running, and the folder can be used again at once.
    expect([...stateOf.values()]).not.toContain('running')
    const resumed = runCli(['backfills', 'resume', '1'], {cwd: root})
    expect(resumed.code).toBe(0)
  }, 60_000)
})
