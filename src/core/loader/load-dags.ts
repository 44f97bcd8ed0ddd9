import {readdir} from 'node:fs/promises'
import {basename, extname, join, resolve} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

import {closeMatch} from '../suggest.js'

import type {Dag} from '../dag/model.js'
import {validateDag} from '../dag/validate.js'
import {type ErrorCode, isUpdraftError, systemErrorText, UpdraftError} from '../errors.js'

const DAG_EXTENSIONS = ['.ts', '.mts', '.js', '.mjs']

/** A DAG file that could not be loaded, with the reason. */
export interface DagFileError {
  code: ErrorCode
  file: string
  message: string
}

/** Every DAG in a folder, plus the files that failed; one broken file never hides the others. */
export interface DagBag {
  dags: Dag[]
  errors: DagFileError[]
  folder: string
}

/** Loads every DAG file directly inside `folder` (subfolders hold shared code and are not scanned). */
export async function loadDagBag(folder: string): Promise<DagBag> {
  const files = await listDagFiles(folder)
  const dags: Dag[] = []
  const errors: DagFileError[] = []
  for (const file of files) {
    try {
      const dag = await loadDagFile(file)
      const clash = dags.find((other) => other.dagId === dag.dagId)
      if (clash) throw new UpdraftError('DAG_DUPLICATE_ID', `${file}: dag_id "${dag.dagId}" is already defined in ${clash.fileloc}`)
      dags.push(dag)
    } catch (error) {
      errors.push(toFileError(file, error))
    }
  }

  return {dags, errors, folder}
}

/**
 * Loads one DAG by id. The file named after the id is tried first so a backfill imports one file, not the
 * whole folder; a DAG whose id differs from its file name is still found by loading the rest.
 */
export async function loadDag(folder: string, dagId: string): Promise<Dag> {
  const files = await listDagFiles(folder)
  const named = files.filter((file) => stemOf(file) === dagId)
  for (const file of named) {
    const dag = await loadDagFile(file)
    if (dag.dagId === dagId) return dag
  }

  const bag = await loadDagBag(folder)
  const found = bag.dags.find((dag) => dag.dagId === dagId)
  if (found) return found
  const ids = bag.dags.map((dag) => dag.dagId)
  const suggestion = closeMatch(dagId, ids)
  const broken = bag.errors.length > 0 ? ` (${bag.errors.length} file(s) failed to load; see \`updraft dags list\`)` : ''
  throw new UpdraftError(
    'DAG_NOT_FOUND',
    `Expected a DAG id from ${folder} (${ids.join(', ') || 'none found'}), got "${dagId}"${broken}.`,
    {suggestions: suggestion ? [`Did you mean "${suggestion}"?`] : []},
  )
}

async function listDagFiles(folder: string): Promise<string[]> {
  const absolute = resolve(folder)
  let entries
  try {
    entries = await readdir(absolute, {withFileTypes: true})
  } catch (error) {
    throw new UpdraftError(
      'DAGS_FOLDER_UNREADABLE',
      `Expected a readable DAGs folder at ${absolute}, got ${systemErrorText(error)}`,
      {suggestions: ['Pass --dags-folder or set UPDRAFT_DAGS_FOLDER.']},
    )
  }

  return entries
    .filter((entry) => entry.isFile() && DAG_EXTENSIONS.includes(extname(entry.name)) && !entry.name.endsWith('.d.ts'))
    .map((entry) => join(absolute, entry.name))
    .sort()
}

function stemOf(file: string): string {
  return basename(file, extname(file))
}

let jiti: undefined | {import(id: string): Promise<unknown>}

/**
 * jiti runs TypeScript DAG files. `updraft` is aliased to this very package, so `import {defineDag} from
 * 'updraft'` works from a DAGs folder that has no node_modules of its own, as Airflow DAGs import airflow.
 */
async function importWithJiti(file: string): Promise<unknown> {
  if (!jiti) {
    const {createJiti} = await import('jiti')
    jiti = createJiti(import.meta.url, {alias: {updraft: fileURLToPath(new URL('../../index.js', import.meta.url))}})
  }

  return jiti.import(file)
}

async function importModule(file: string): Promise<unknown> {
  if (file.endsWith('.ts') || file.endsWith('.mts')) return importWithJiti(file)
  try {
    // Plain JavaScript loads natively, which is much faster than through jiti.
    return await import(pathToFileURL(file).href)
  } catch (error) {
    // Node says ERR_MODULE_NOT_FOUND; a loader that resolves like require() (a test runner's) says MODULE_NOT_FOUND.
    const code = (error as NodeJS.ErrnoException).code ?? ''
    const missing = ['ERR_MODULE_NOT_FOUND', 'MODULE_NOT_FOUND'].includes(code) && /'updraft'/.test((error as Error).message)
    if (missing) return importWithJiti(file)
    throw error
  }
}

async function loadDagFile(file: string): Promise<Dag> {
  let module: unknown
  try {
    module = await importModule(file)
  } catch (error) {
    if (isUpdraftError(error)) throw new UpdraftError(error.code, `${file}: ${error.summary.replace(/^defineDag\(\): /, '')}`)
    const raw = error instanceof Error ? error.message : String(error)
    // jiti reports TypeScript parse failures as a plain Error whose message starts with "ParseError:".
    const isSyntax = (error as Error).name === 'SyntaxError' || raw.startsWith('ParseError:')
    const message = raw
      .replace(/^ParseError:\s*/, '')
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean)
      .slice(0, 2)
      .join(' at ')
    const code: ErrorCode = isSyntax ? 'DAG_SYNTAX_ERROR' : 'DAG_IMPORT_ERROR'
    throw new UpdraftError(code, `${file}: ${code === 'DAG_SYNTAX_ERROR' ? 'syntax error: ' : 'failed to import: '}${message}`)
  }

  const exported = (module as {default?: unknown}).default
  if (exported === undefined) throw new UpdraftError('DAG_NO_DEFAULT_EXPORT', `${file}: expected a default export (export default {...}), got none`)
  return validateDag(exported, file, stemOf(file))
}

function toFileError(file: string, error: unknown): DagFileError {
  if (isUpdraftError(error)) return {code: error.code, file, message: error.summary}
  return {code: 'DAG_IMPORT_ERROR', file, message: `${file}: ${(error as Error).message}`}
}
