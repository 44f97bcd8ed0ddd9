import {createHash} from 'node:crypto'
import {existsSync, readFileSync} from 'node:fs'
import {dirname, resolve} from 'node:path'

const RELATIVE_IMPORT = /(?:from\s+|import\s*\(\s*|import\s+)['"](\.{1,2}\/[^'"]+)['"]/g

/**
 * sha256 over a DAG file and the local modules it imports (relative specifiers, followed recursively): what a
 * worker compares before it runs a try, so it never runs other code than the coordinator planned with.
 */
export function dagHashOf(fileloc: string): string {
  const hash = createHash('sha256')
  const seen = new Set<string>()
  const visit = (path: string) => {
    if (seen.has(path) || !existsSync(path)) return
    seen.add(path)
    const text = readFileSync(path, 'utf8')
    hash.update(`${path.slice(dirname(fileloc).length)}\0${text}\0`)
    for (const match of text.matchAll(RELATIVE_IMPORT)) {
      const specifier = match[1] as string
      const target = resolve(dirname(path), specifier)
      // TypeScript sources import `./x.js` for `./x.ts`.
      visit(existsSync(target) ? target : target.replace(/\.js$/, '.ts'))
    }
  }

  visit(fileloc)
  return hash.digest('hex')
}
