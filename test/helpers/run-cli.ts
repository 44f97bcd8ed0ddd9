import {spawn, spawnSync} from 'node:child_process'
import {constants} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const BIN = join(REPO_ROOT, 'bin', 'run.js')

export interface CliResult {
  code: null | number
  signal: NodeJS.Signals | null
  stderr: string
  stdout: string
}

function cliEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  // A user's shell: not jest's NODE_ENV=test, no TTY, CI set as in the pipeline.
  const base: NodeJS.ProcessEnv = {...process.env, CI: 'true', NO_COLOR: '1'}
  delete base.NODE_ENV
  delete base.UPDRAFT_DB
  delete base.UPDRAFT_DAGS_FOLDER
  return {...base, ...env}
}

/** The exit status a shell reports: the code, or 128 + the number of the signal that ended the process. */
export function shellStatusOf(result: CliResult): null | number {
  return result.signal ? 128 + constants.signals[result.signal] : result.code
}

/** Runs the built CLI in `cwd` as a fresh process and waits for it. */
export function runCli(args: string[], options: {cwd: string; env?: Record<string, string | undefined>; input?: string}): CliResult {
  const result = spawnSync(process.execPath, [BIN, ...args], {cwd: options.cwd, encoding: 'utf8', env: cliEnv(options.env ?? {}), input: options.input ?? '', maxBuffer: 64 * 1024 * 1024})
  return {code: result.status, signal: result.signal, stderr: result.stderr, stdout: result.stdout}
}

/** Starts the built CLI without waiting, for tests that signal or race it. */
export function startCli(args: string[], options: {cwd: string; env?: Record<string, string | undefined>}) {
  const child = spawn(process.execPath, [BIN, ...args], {cwd: options.cwd, env: cliEnv(options.env ?? {}), stdio: ['ignore', 'pipe', 'pipe']})
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => (stdout += chunk))
  child.stderr.on('data', (chunk) => (stderr += chunk))
  const done = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => resolve({code, signal, stderr, stdout}))
  })
  return {child, done, output: () => ({stderr, stdout})}
}
