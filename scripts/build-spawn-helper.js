// Compiles the native spawn helper from the copy of its source in a built folder (dist/core/executor by default,
// which is where a packed or cloned install has it). Without a C compiler this says so and succeeds: tasks then
// start through the Perl spawn server, which is slower for short tasks but otherwise the same.
import {spawnSync} from 'node:child_process'
import {existsSync, renameSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

export function buildSpawnHelper(folder) {
  const source = join(folder, 'spawn-helper.c')
  if (!existsSync(source)) return
  const target = join(folder, 'spawn-helper')
  // Built beside and renamed into place, so a backfill running the old helper is never left with half a file.
  const next = `${target}.next`
  const compiler = process.env.CC || 'cc'
  const result = spawnSync(compiler, ['-O2', '-o', next, source], {encoding: 'utf8'})
  if (result.status === 0) {
    renameSync(next, target)
    return
  }
  rmSync(next, {force: true})
  const reason = result.error ? `${compiler} was not found` : `${compiler} failed: ${result.stderr.trim().split('\n')[0]}`
  console.warn(`updraft: the native spawn helper was not built (${reason}); tasks will start through Perl, which is slower for short tasks.`)
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) buildSpawnHelper(process.argv[2] ?? 'dist/core/executor')
