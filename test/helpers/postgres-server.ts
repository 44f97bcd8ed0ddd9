import {execFileSync, spawnSync} from 'node:child_process'
import {chownSync, existsSync, mkdtempSync, readdirSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

/** Where Debian's postgresql package keeps its server programs: the newest version installed. */
function serverBinaries(): string {
  try {
    const bindir = execFileSync('pg_config', ['--bindir'], {encoding: 'utf8'}).trim()
    if (existsSync(join(bindir, 'pg_ctl'))) return bindir
  } catch {
    // No pg_config (it comes with libpq-dev): look in Debian's versioned folders.
  }

  const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').filter((name) => /^\d+$/.test(name)).sort((a, b) => Number(b) - Number(a)) : []
  const found = versions.map((version) => `/usr/lib/postgresql/${version}/bin`).find((bindir) => existsSync(join(bindir, 'pg_ctl')))
  if (!found) throw new Error("PostgreSQL's server programs were not found: run scripts/ensure-debian-package.sh pg_ctlcluster postgresql 'PostgreSQL tests'")
  return found
}

/**
 * A throwaway PostgreSQL on a unix socket in a temp dir (no TCP port), trusting its one superuser `updraft`.
 * PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user.
 */
export async function startPostgres(): Promise<{goAway: () => void; newDatabase: () => string; returnAgain: () => void; stop: () => void; url: (database: string) => string}> {
  const bindir = serverBinaries()
  const dir = mkdtempSync(join(tmpdir(), 'updraft-pg-'))
  const asRoot = process.getuid?.() === 0
  if (asRoot) {
    const uid = execFileSync('id', ['-u', 'postgres'], {encoding: 'utf8'}).trim()
    const gid = execFileSync('id', ['-g', 'postgres'], {encoding: 'utf8'}).trim()
    chownSync(dir, Number(uid), Number(gid))
  }

  const run = (program: string, args: string[]) => {
    const command = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bindir, program), ...args]] as const : [join(bindir, program), args] as const
    const result = spawnSync(command[0], command[1], {encoding: 'utf8'})
    if (result.status !== 0) throw new Error(`${program} failed: ${result.stderr || result.stdout}`)
  }

  const data = join(dir, 'data')
  const port = 20_000 + Math.floor(Math.random() * 20_000)
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'updraft', '--no-sync'])
  const start = () => run('pg_ctl', ['-D', data, '-o', `-k ${dir} -h '' -p ${port} -c fsync=off -c synchronous_commit=off -c full_page_writes=off`, '-l', join(dir, 'server.log'), '-w', 'start'])
  start()
  const url = (database: string) => `postgresql://updraft@localhost:${port}/${database}?host=${encodeURIComponent(dir)}`
  let created = 0
  return {
    /** The server stops at once, as a crashed or unreachable one would; `returnAgain` starts it on the same data. */
    goAway: () => run('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']),
    newDatabase() {
      const name = `updraft_${process.pid}_${++created}`
      execFileSync('psql', ['-h', dir, '-p', String(port), '-U', 'updraft', '-d', 'postgres', '-q', '-c', `CREATE DATABASE ${name}`])
      return url(name)
    },
    returnAgain: start,
    stop() {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', 'stop'])
      } finally {
        rmSync(dir, {force: true, recursive: true})
      }
    },
    url,
  }
}
