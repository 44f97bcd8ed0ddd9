import {describe, expect, it} from '@jest/globals'
import {spawn} from 'node:child_process'
import {readdirSync} from 'node:fs'
import {join} from 'node:path'

import {BIN, runCli} from '../helpers/run-cli.js'
import {linesOf, readState, waitFor} from '../helpers/state-file.js'
import {alive, reapAfterAll} from '../helpers/processes.js'
import {tmpProject} from '../helpers/tmp-project.js'

// A 4-task diamond of one-second tasks in Europe/Berlin; every task shell records its pid.
const berlin = `export default {schedule_interval: '@daily', start_date: '2024-01-01', timezone: 'Europe/Berlin',
  tasks: [
    {task_id: 'extract', bash_command: 'echo $$ >> ../pids.txt; sleep 1'},
    {task_id: 'clean', bash_command: 'echo $$ >> ../pids.txt; sleep 1', upstream: ['extract']},
    {task_id: 'enrich', bash_command: 'echo $$ >> ../pids.txt; sleep 1', upstream: ['extract']},
    {task_id: 'load', bash_command: 'echo $$ >> ../pids.txt; sleep 1', upstream: ['clean', 'enrich']},
  ]}`

const hourly = `export default {schedule_interval: '@hourly', start_date: '2024-01-01', timezone: 'Europe/Berlin',
  tasks: [
    {task_id: 'a', bash_command: 'true'},
    {task_id: 'b', bash_command: 'true', upstream: ['a']},
    {task_id: 'c', bash_command: 'true', upstream: ['b']},
  ]}`

const started = reapAfterAll()

/** The header line of the last frame the live view drew: its mark says how the backfill ended. */
const lastHeader = (screen: string, dagId: string) => screen.split('\u001B[G').flatMap((frame) => frame.split('\n')).filter((line) => line.includes(`Backfill ${dagId} ·`)).at(-1)?.replaceAll(/\u001B\[[\d;?]*[A-Za-z]/g, '').trim()

/** Runs the CLI on a real terminal of `rows` × 120 through script(1), which passes typed keys through the tty driver. */
function onTerminal(root: string, args: string[], rows: number) {
  const command = `stty cols 120 rows ${rows}; exec ${process.execPath} ${BIN} ${args.join(' ')}`
  const env = {...process.env, CI: undefined, NODE_ENV: undefined, NO_COLOR: '1'}
  const terminal = spawn('script', ['-qfec', command, '/dev/null'], {cwd: root, env, stdio: ['pipe', 'pipe', 'pipe']})
  let screen = ''
  terminal.stdout.on('data', (chunk) => (screen += chunk))
  const exited = new Promise<{at: number; code: null | number}>((resolve) => {
    terminal.on('close', (code) => resolve({at: Date.now(), code}))
  })
  return {exited, screen: () => screen, terminal}
}

/** The backfill process, as the runs it owns name it (it runs under a pty helper, so its pid is not the child's). */
const backfillPid = (root: string, dagId: string) => Number(readdirSync(join(root, '.updraft')).map((name) => new RegExp(`^db\\.json\\.${dagId}\\.claim-(\\d+)-`).exec(name)?.[1]).find(Boolean))

function expectStoppedCleanly(root: string): void {
  const runs = Object.values(readState(root).dags.berlin?.runs ?? {})
  const tis = runs.flatMap((run) => Object.values(run.task_instances))
  expect(tis.some((ti) => ti.state === 'queued' || ti.state === 'running')).toBe(false)
  expect(tis.some((ti) => ti.state === 'none' && ti.reason === 'interrupted')).toBe(true)
  expect(runs.some((run) => run.state === 'running')).toBe(false)
  for (const pid of linesOf(join(root, 'pids.txt')).map(Number)) expect(alive(pid)).toBe(false)
}

describe('a busy live view on a terminal', () => {
  // [what stops it, how, expected exit code]
  const stops: Array<[string, (run: ReturnType<typeof onTerminal>, root: string) => void, number]> = [
    ['a typed Ctrl-C', (run) => run.terminal.stdin.write('\u0003'), 130],
    ['a SIGTERM', (_run, root) => process.kill(backfillPid(root, 'berlin'), 'SIGTERM'), 143],
  ]

  it.each(stops)('stops within 2 s of %s: exit code, task shells gone, instances back to none', async (_what, stop, exitCode) => {
    const root = tmpProject({'dags/berlin.mjs': berlin})
    const run = onTerminal(root, ['dags', 'backfill', 'berlin', '-s', '2024-03-01', '-e', '2024-03-30'], 35)
    await waitFor(() => run.screen().includes('› extract running'))
    await new Promise((resolve) => {
      setTimeout(resolve, 3000)
    })
    started.push(...linesOf(join(root, 'pids.txt')).map(Number))
    const stoppedAt = Date.now()
    stop(run, root)
    const {at, code} = await run.exited
    expect(code).toBe(exitCode)
    expect(at - stoppedAt).toBeLessThan(2000)
    // Dates read in the DAG's zone: 2024-03-05 is not shown as the UTC instant 2024-03-04T23:00:00.000Z.
    expect(run.screen()).toContain('2024-03-05')
    expect(run.screen()).not.toContain('2024-03-04T23:00:00.000Z')
    expect(run.screen()).toContain(`interrupted by ${exitCode === 130 ? 'SIGINT' : 'SIGTERM'}`)
    expect(lastHeader(run.screen(), 'berlin')).toBe('◼ Backfill berlin · 30 date(s) · Europe/Berlin')
    expectStoppedCleanly(root)
  })

  // A week of hourly dates is more than five screens, and crosses the spring-forward night; a busy machine gets the
  // time it needs.
  it('draws no frame taller than the screen on a week of hourly dates, and ends with every date counted', async () => {
    const root = tmpProject({'dags/hourly.mjs': hourly})
    const run = onTerminal(root, ['dags', 'backfill', 'hourly', '-s', '2024-03-25T00:00', '-e', '2024-03-31T23:00'], 30)
    const {code} = await run.exited
    expect(code).toBe(0)
    const screen = run.screen()
    // Each frame is drawn after an erase that ends by moving the cursor to column 1.
    const frames = screen.split('\u001B[G').slice(1)
    expect(frames.length).toBeGreaterThan(1)
    for (const frame of frames) expect(frame.split('\n').length - 1).toBeLessThanOrEqual(30)
    expect(screen).toContain('Backfill hourly · 167 date(s) · Europe/Berlin')
    expect(screen).toContain('167/167 dates done · 501 success')
    expect(screen).toContain('Backfill of hourly succeeded')
    expect(lastHeader(screen, 'hourly')).toBe('✔ Backfill hourly · 167 date(s) · Europe/Berlin')
  }, 120_000)

  it('ends the header with ✖ when a date failed', async () => {
    const root = tmpProject({'dags/flaky.mjs': "export default {schedule_interval: '@daily', start_date: '2024-01-01', tasks: [{task_id: 'a', bash_command: 'test {{ ds }} != 2024-01-02'}]}"})
    const run = onTerminal(root, ['dags', 'backfill', 'flaky', '-s', '2024-01-01', '-e', '2024-01-03'], 30)
    expect((await run.exited).code).toBe(1)
    expect(lastHeader(run.screen(), 'flaky')).toBe('✖ Backfill flaky · 3 date(s) · UTC')

    // Its log on a terminal starts with which try it is and how it ended; piped, it is the log as captured.
    const logs = onTerminal(root, ['tasks', 'logs', 'flaky', 'a', '2024-01-02'], 30)
    expect((await logs.exited).code).toBe(0)
    expect(logs.screen()).toMatch(/^a · 2024-01-02 · try 1 · failed · exit code 1 · \d+ms\r?\n.*attempt=1\.log/)
    expect(runCli(['tasks', 'logs', 'flaky', 'a', '2024-01-02'], {cwd: root}).stdout).toBe('')
  })
})
