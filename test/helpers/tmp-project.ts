import {mkdtempSync, mkdirSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'

/** A temporary project folder with the given files (paths relative to it). */
export function tmpProject(files: Record<string, string> = {}): string {
  const root = mkdtempSync(join(tmpdir(), 'updraft-test-'))
  mkdirSync(join(root, 'dags'))
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), {recursive: true})
    writeFileSync(join(root, path), content)
  }

  return root
}
