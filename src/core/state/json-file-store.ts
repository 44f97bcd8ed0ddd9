import {appendFileSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync} from 'node:fs'
import {basename, dirname, join} from 'node:path'

import {Low} from 'lowdb'
import {JSONFile} from 'lowdb/node'

import {UpdraftError} from '../errors.js'
import {type ProcessInfo, tryLock} from './file-lock.js'
import {applyChange, type DagState, SCHEMA_VERSION, type StateChange, type StateFile} from './schema.js'
import type {StateStore} from './store.js'

/** How to open the state file. */
export interface JsonFileStoreOptions {
  clock: () => Date
  /** The DAG this process writes; only its section of the file is replaced on flush, so DAGs can share a file. */
  ownDagId: null | string
  path: string
  process: ProcessInfo
}

const FLUSH_INTERVAL_MS = 1000
const WRITE_LOCK_TIMEOUT_MS = 30_000

/**
 * The lowdb-backed state file. Each recorded change of the own DAG is appended to a journal before `record()`
 * returns, so a kill -9 loses nothing that was recorded; the journal is folded into the JSON file on flush (at
 * most once a second, and at close) and replayed by the next process that opens the store.
 */
export class JsonFileStore implements StateStore {
  private readonly db: Low<StateFile>
  private closed = false
  private journalFd: null | number = null
  private dirty = false
  private flushCostMs = 0
  private lastWrite: null | {file: StateFile; stamp: string} = null
  private flushing: Promise<void> = Promise.resolve()
  private readonly journalPath: null | string
  private memory: StateFile
  private timer: NodeJS.Timeout | undefined

  private constructor(private readonly options: JsonFileStoreOptions, memory: StateFile) {
    this.db = new Low(new JSONFile<StateFile>(options.path), emptyState())
    this.memory = memory
    this.journalPath = options.ownDagId === null ? null : journalPathFor(options.path, options.ownDagId)
  }

  /** Opens (but never creates) the state file, replaying journals left by a crashed process. */
  static async open(options: JsonFileStoreOptions): Promise<JsonFileStore> {
    const memory = await readStateFile(options.path)
    for (const journal of journalsOf(options.path)) replayJournal(memory, journal)
    const store = new JsonFileStore(options, memory)
    if (store.journalPath && journalsOf(options.path).some((journal) => journal.startsWith(store.journalPath as string))) {
      store.dirty = true
      await store.flush()
    }

    return store
  }

  async close(): Promise<void> {
    this.closed = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    await this.flush()
  }

  async flush(): Promise<void> {
    // Flushes run one after another; a failed one must not poison the ones queued behind it.
    this.flushing = this.flushing.catch(() => {}).then(() => this.writeOwnSection())
    return this.flushing
  }

  async readDag(dagId: string): Promise<DagState> {
    return structuredClone(this.memory.dags[dagId] ?? {runs: {}})
  }

  async readDagIds(): Promise<string[]> {
    return Object.keys(this.memory.dags)
  }

  record(changes: readonly StateChange[]): void {
    if (changes.length === 0) return
    for (const change of changes) applyChange(this.memory, change)
    if (this.journalPath) {
      const lines = changes.filter((change) => change.dag_id === this.options.ownDagId && !isTransient(change)).map((change) => JSON.stringify(change))
      if (lines.length > 0) {
        if (this.journalFd === null) {
          ensureDirectory(this.options.path)
          this.journalFd = openSync(this.journalPath, 'a')
        }

        // One write(2) per call: once it returns the line is in the kernel and survives the death of this process.
        writeSync(this.journalFd, lines.join('\n') + '\n')
      }
    }

    this.dirty = true
    this.scheduleFlush()
  }

  /**
   * Flushes in the background: the first change at once, so the state file exists from the start of a backfill;
   * after that at most once a second, and never more than a fifth of the time spent writing.
   */
  private scheduleFlush(): void {
    if (this.timer) return
    const delay = this.lastWrite === null ? 0 : Math.max(FLUSH_INTERVAL_MS, 4 * this.flushCostMs)
    this.timer = setTimeout(() => {
      const started = this.options.clock().getTime()
      this.flush()
        .catch(() => {})
        .finally(() => {
          this.flushCostMs = this.options.clock().getTime() - started
          this.timer = undefined
          if (this.dirty && !this.closed) this.scheduleFlush()
        })
    }, delay).unref()
  }

  private async writeOwnSection(): Promise<void> {
    const {ownDagId, path} = this.options
    if (!this.dirty || ownDagId === null || this.journalPath === null) return
    ensureDirectory(path)
    const release = await this.acquireWriteLock()
    const rotated = `${this.journalPath}.flushing`
    try {
      // Re-read the file only when another process wrote it since our last write.
      const stamp = fileStamp(path)
      const onDisk = this.lastWrite && stamp === this.lastWrite.stamp ? this.lastWrite.file : await readStateFile(path)
      // From here to db.write() nothing awaits: lowdb serialises the data synchronously when write() is called,
      // so the snapshot, the journal rotation and the serialisation see the same state without a copy. Changes
      // recorded while the file is being written land in a fresh journal.
      if (this.journalFd !== null) closeSync(this.journalFd)
      this.journalFd = null
      if (existsSync(this.journalPath)) {
        if (existsSync(rotated)) appendFileSync(rotated, readFileSync(this.journalPath))
        else renameSync(this.journalPath, rotated)
        rmSync(this.journalPath, {force: true})
      }

      onDisk.dags[ownDagId] = this.memory.dags[ownDagId] ?? {runs: {}}
      this.db.data = onDisk
      this.dirty = false
      await this.db.write()
      this.lastWrite = {file: onDisk, stamp: fileStamp(path)}
    } catch (error) {
      this.dirty = true
      rmSync(join(dirname(path), `.${basename(path)}.tmp`), {force: true})
      if (error instanceof UpdraftError) throw error
      throw new UpdraftError('STATE_FILE_UNWRITABLE', `Expected to write the state file ${path}, got ${(error as NodeJS.ErrnoException).code ?? 'an error'}: ${(error as Error).message}`)
    } finally {
      release()
    }

    rmSync(rotated, {force: true})
  }

  private async acquireWriteLock(): Promise<() => void> {
    const lockPath = `${this.options.path}.lock`
    const started = this.options.clock().getTime()
    for (;;) {
      const result = tryLock(lockPath, this.options.process, this.options.clock())
      if ('release' in result) return result.release
      if (this.options.clock().getTime() - started > WRITE_LOCK_TIMEOUT_MS) {
        throw new UpdraftError('STATE_FILE_UNWRITABLE', `Expected to lock ${lockPath} within ${WRITE_LOCK_TIMEOUT_MS / 1000}s, got it held by pid ${result.holder.pid} since ${result.holder.since}.`)
      }

      await new Promise((resolve) => {
        setTimeout(resolve, 5 + Math.random() * 20)
      })
    }
  }
}

/**
 * The queued state is not journaled: an instance a dead process left queued is simply run again. Running is,
 * so the try that a crash cut short still shows up in the instance's history.
 */
function isTransient(change: StateChange): boolean {
  return change.type === 'task_instance' && change.ti.state === 'queued'
}

function fileStamp(path: string): string {
  try {
    const stat = statSync(path)
    return `${stat.mtimeMs}:${stat.size}:${stat.ino}`
  } catch {
    return 'missing'
  }
}

function emptyState(): StateFile {
  return {dags: {}, schema_version: SCHEMA_VERSION}
}

function ensureDirectory(path: string): void {
  mkdirSync(dirname(path), {recursive: true})
}

function journalPathFor(path: string, dagId: string): string {
  return `${path}.${encodeURIComponent(dagId)}.journal`
}

function journalsOf(path: string): string[] {
  const directory = dirname(path)
  const prefix = `${basename(path)}.`
  if (!existsSync(directory)) return []
  return (
    readdirNames(directory)
      .filter((name) => name.startsWith(prefix) && (name.endsWith('.journal') || name.endsWith('.journal.flushing')))
      // The rotated journal holds older changes than the live one, so it is replayed first.
      .sort((a, b) => Number(b.endsWith('.flushing')) - Number(a.endsWith('.flushing')) || a.localeCompare(b))
      .map((name) => join(directory, name))
  )
}

function readdirNames(directory: string): string[] {
  try {
    return readdirSync(directory)
  } catch {
    return []
  }
}

function replayJournal(state: StateFile, journal: string): void {
  const lines = readFileSync(journal, 'utf8').split('\n')
  for (const line of lines) {
    if (line.trim() === '') continue
    try {
      applyChange(state, JSON.parse(line) as StateChange)
    } catch {
      // A kill -9 can cut the last line short; everything before it is intact.
    }
  }
}

/** Reads and checks the state file; a missing file is an empty state, a corrupt or newer one is refused. */
async function readStateFile(path: string): Promise<StateFile> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyState()
    throw new UpdraftError('STATE_FILE_UNREADABLE', `Expected a readable state file at ${path}, got ${(error as Error).message}`)
  }

  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    throw new UpdraftError('STATE_FILE_CORRUPT', `Expected the state file ${path} to be JSON, got a parse error: ${(error as Error).message}. It was left untouched; move it aside to start afresh.`)
  }

  const file = parsed as Partial<StateFile>
  if (typeof file !== 'object' || file === null || typeof file.schema_version !== 'number' || typeof file.dags !== 'object' || file.dags === null) {
    throw new UpdraftError('STATE_FILE_CORRUPT', `Expected the state file ${path} to hold {schema_version, dags}, got something else. It was left untouched.`)
  }

  if (file.schema_version > SCHEMA_VERSION) {
    throw new UpdraftError('STATE_SCHEMA_TOO_NEW', `Expected state schema_version ${SCHEMA_VERSION} or older in ${path}, got ${file.schema_version}; upgrade updraft to read it. It was left untouched.`)
  }

  return file as StateFile
}
