import {describe, expect, it} from '@jest/globals'
import {spawn} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {basename, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {DirectSpawner, type SpawnHelper, type Spawner, SpawnServer} from '../../src/core/executor/spawn-server.js'
import {alive} from '../helpers/processes.js'
import {waitFor} from '../helpers/state-file.js'

const env = {PATH: process.env.PATH ?? '/usr/bin:/bin'}

/** The helper `npm run build` compiles (the suite builds first). */
const native = {native: fileURLToPath(new URL('../../dist/core/executor/spawn-helper', import.meta.url))}
const node = basename(process.execPath)

describe.each([
  ['the native spawn helper', () => new SpawnServer(env, 2, {helper: native}), 'spawn-helper'],
  ['the Perl spawn server', () => new SpawnServer(env, 2, {helper: 'perl'}), 'perl'],
  ['direct spawning', () => new DirectSpawner(), node],
  ['the native spawn helper when it cannot start (falls back to Perl)', () => new SpawnServer(env, 2, {helper: {native: '/nonexistent/spawn-helper'}}), 'perl'],
  ['the Perl spawn server without Perl on PATH (falls back)', () => new SpawnServer({PATH: '/nonexistent'}, 2, {helper: 'perl'}), node],
] as Array<[string, () => Spawner, string]>)('%s', (_name, makeSpawner, parent) => {
  it(`runs commands from ${parent} in their own process group, cwd and environment, logging to a new log folder`, async () => {
    const spawner = makeSpawner()
    const folder = mkdtempSync(join(tmpdir(), 'updraft-spawn-'))
    const logPath = join(folder, 'run', 'task', 'attempt=1.log')
    let pid = 0
    const outcome = await spawner.run(
      {
        command: 'echo "$GREETING from $(pwd)"; echo oops >&2; ps -o pgid= -p $$; ps -o comm= -p $PPID; exit 3',
        cwd: folder,
        env: {...env, GREETING: 'hello'},
        logPath,
      },
      (started) => {
        pid = started
      },
    )
    spawner.close()
    expect(outcome).toEqual({error: null, exitCode: 3})
    const [greeting, stderr, pgid, parentName] = readFileSync(logPath, 'utf8').trim().split('\n')
    expect(greeting).toBe(`hello from ${folder}`)
    expect(stderr).toBe('oops')
    expect(Number(pgid)).toBe(pid)
    expect(parentName?.trim()).toBe(parent)
  })

  it('reports a signal death as 128 + the signal number', async () => {
    const spawner = makeSpawner()
    const folder = mkdtempSync(join(tmpdir(), 'updraft-spawn-'))
    const outcome = await spawner.run({command: 'sleep 30', cwd: folder, env, logPath: join(folder, 'x.log')}, (pid) => process.kill(-pid, 'SIGTERM'))
    spawner.close()
    expect(outcome.exitCode).toBe(143)
  })

  it('starts nothing when the log cannot be opened, and says why', async () => {
    const spawner = makeSpawner()
    const folder = mkdtempSync(join(tmpdir(), 'updraft-spawn-'))
    writeFileSync(join(folder, 'not-a-folder'), '')
    let started = false
    const outcome = await spawner.run({command: 'touch ran', cwd: folder, env, logPath: join(folder, 'not-a-folder', 'x.log')}, () => {
      started = true
    })
    spawner.close()
    expect(outcome.exitCode).toBeNull()
    expect((outcome.logError as NodeJS.ErrnoException | undefined)?.code).toMatch(/^(ENOTDIR|EEXIST)$/)
    expect(started).toBe(false)
    expect(existsSync(join(folder, 'ran'))).toBe(false)
  })
})

describe.each([
  ['the native spawn helper', native],
  ['the Perl spawn server', 'perl'],
] as Array<[string, SpawnHelper]>)('%s', (_name, helper) => {
  it('fails a command whose folder is gone with exit code 127 and says so in its log', async () => {
    const spawner = new SpawnServer(env, 2, {helper})
    const folder = mkdtempSync(join(tmpdir(), 'updraft-spawn-'))
    const outcome = await spawner.run({command: 'true', cwd: join(folder, 'gone'), env, logPath: join(folder, 'x.log')}, () => {})
    spawner.close()
    expect(outcome).toEqual({error: null, exitCode: 127})
    expect(readFileSync(join(folder, 'x.log'), 'utf8')).toMatch(/^cannot change directory to .*\/gone: No such file or directory\n$/)
  })

  it('stops every group it started when its parent is killed while it is frozen, with exits still to report', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'updraft-spawn-'))
    const script = `
      import {SpawnServer} from ${JSON.stringify(new URL('../../dist/core/executor/spawn-server.js', import.meta.url).href)}
      const server = new SpawnServer(process.env, 4, {helper: ${JSON.stringify(helper)}})
      const run = (name, command) => server.run({command, cwd: process.cwd(), env: process.env, logPath: name + '.log'}, (pid) => console.log(name, pid))
      for (const gate of ['gate1', 'gate2', 'gate3']) run(gate, 'while [ ! -f go ]; do sleep 0.02; done')
      run('long', 'sleep 60 & echo $! > sleeper; wait')`
    const parent = spawn(process.execPath, ['--input-type=module', '-e', script], {cwd: folder, stdio: ['ignore', 'pipe', 'inherit']})
    let printed = ''
    parent.stdout.on('data', (chunk) => (printed += chunk))
    await waitFor(() => existsSync(join(folder, 'sleeper')) && readFileSync(join(folder, 'sleeper'), 'utf8').endsWith('\n') && printed.split('\n').length > 4)
    const sleeper = Number(readFileSync(join(folder, 'sleeper'), 'utf8'))
    const task = Number(/long (\d+)/.exec(printed)?.[1])
    const server = Number(readFileSync(`/proc/${task}/stat`, 'utf8').split(') ')[1]?.split(' ')[1])
    // Frozen, the server misses the gates' exits until its parent is gone, then reports them into a closed pipe.
    process.kill(server, 'SIGSTOP')
    writeFileSync(join(folder, 'go'), '')
    await new Promise((resolve) => setTimeout(resolve, 300))
    parent.kill('SIGKILL')
    await new Promise((resolve) => parent.once('close', resolve))
    process.kill(server, 'SIGCONT')
    try {
      await waitFor(() => !alive(sleeper) && !alive(server), 5000)
    } finally {
      for (const pid of [sleeper, server]) if (alive(pid)) process.kill(pid, 'SIGKILL')
    }
  })
})

describe('the spawn server queue', () => {
  it('starts a command only once what was recorded when it was asked for is durable', async () => {
    const held: Array<() => void> = []
    const spawner = new SpawnServer(env, 2, {helper: native, whenDurable: (send) => held.push(send)})
    const folder = mkdtempSync(join(tmpdir(), 'updraft-spawn-'))
    let started = false
    const outcome = spawner.run({command: 'true', cwd: folder, env, logPath: join(folder, 'x.log')}, () => {
      started = true
    })
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(started).toBe(false)
    for (const send of held) send()
    expect(await outcome).toEqual({error: null, exitCode: 0})
    expect(started).toBe(true)
    spawner.close()
  })

  it('runs at most `limit` commands at once and can drop the ones still waiting', async () => {
    const spawner = new SpawnServer(env, 1, {helper: native})
    const folder = mkdtempSync(join(tmpdir(), 'updraft-spawn-'))
    let runningPid = 0
    const first = spawner.run({command: 'sleep 30', cwd: folder, env, logPath: join(folder, 'first.log')}, (pid) => {
      runningPid = pid
    })
    let secondStarted = false
    const second = spawner.run({command: 'echo never', cwd: folder, env, logPath: join(folder, 'second', 'x.log')}, () => {
      secondStarted = true
    })
    while (runningPid === 0) await new Promise((resolve) => setTimeout(resolve, 10))
    spawner.cancelWaiting()
    expect(await second).toEqual({error: null, exitCode: 130})
    process.kill(-runningPid, 'SIGKILL')
    expect((await first).exitCode).toBe(137)
    spawner.close()
    expect(secondStarted).toBe(false)
    expect(existsSync(join(folder, 'second'))).toBe(false)
  })
})
