import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {readWholeState} from '../../src/core/state/embedded/embedded-store.js'
import type {StateFile, TaskInstanceRecord} from '../../src/core/state/schema.js'

/** The whole recorded state of the project's store, journals included, as one document. */
export function readState(root: string): StateFile {
  return readWholeState(join(root, '.updraft', 'db.json'))
}

/** `{logical date: {task: state}}` for one DAG, the shape tests compare against. */
export function tiStates(root: string, dagId: string): Record<string, Record<string, string>> {
  const runs = readState(root).dags[dagId]?.runs ?? {}
  return Object.fromEntries(
    Object.values(runs).map((run) => [String(run.logical_date).slice(0, 10), Object.fromEntries(Object.entries(run.task_instances).map(([id, ti]) => [id, ti.state]))]),
  )
}

export function taskInstance(root: string, dagId: string, day: string, taskId: string): TaskInstanceRecord | undefined {
  const runs = readState(root).dags[dagId]?.runs ?? {}
  return Object.values(runs).find((run) => run.logical_date?.startsWith(day))?.task_instances[taskId]
}

/** Lines of a file the DAG's tasks append to, or none yet. */
export function linesOf(path: string): string[] {
  return existsSync(path) ? readFileSync(path, 'utf8').trim().split('\n').filter(Boolean) : []
}

/** Polls until `predicate` holds, for tests that must act while a backfill is mid-run. */
export async function waitFor(predicate: () => boolean, timeoutMs = 20_000): Promise<void> {
  const started = Date.now()
  while (!predicate()) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not met in time')
    await new Promise((resolve) => {
      setTimeout(resolve, 50)
    })
  }
}

/** Every file under `folder` (recursively) with its content: what "the state is untouched" compares. */
export function folderSnapshot(folder: string): Record<string, string> {
  const files = readdirSync(folder, {recursive: true, withFileTypes: true}).filter((entry) => entry.isFile())
  return Object.fromEntries(files.map((entry) => [join(entry.parentPath, entry.name).slice(folder.length + 1), readFileSync(join(entry.parentPath, entry.name), 'utf8')]))
}
