import {spawn} from 'node:child_process'
import {existsSync, mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

/** A private redis-server on a unix socket in a temp dir: no TCP port, no network; stopped by pid. */
export async function startRedis(): Promise<{stop: () => void; url: string}> {
  const dir = mkdtempSync(join(tmpdir(), 'updraft-redis-'))
  const socket = join(dir, 'r.sock')
  const child = spawn('redis-server', ['--port', '0', '--unixsocket', socket, '--unixsocketperm', '700', '--dir', dir, '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'], {stdio: 'ignore'})
  const started = Date.now()
  while (!existsSync(socket)) {
    if (Date.now() - started > 5000) throw new Error('redis-server did not open its socket within 5 s')
    await new Promise((resolve) => {
      setTimeout(resolve, 10)
    })
  }

  return {stop: () => child.kill('SIGKILL'), url: `unix://${socket}`}
}
