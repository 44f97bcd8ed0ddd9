import {afterAll} from '@jest/globals'

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Pids a test started through the CLI; whatever is still alive when the file's tests end is killed. */
export function reapAfterAll(): number[] {
  const pids: number[] = []
  afterAll(() => {
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL')
  })
  return pids
}
