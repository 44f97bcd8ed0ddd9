import {appendFileSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync} from 'node:fs'
import {basename, dirname, join} from 'node:path'

import {type Adapter, Low} from 'lowdb'

import {stateUnwritable, UpdraftError} from '../errors.js'
import {type ProcessInfo, tryLock} from './file-lock.js'
import {applyChange, type BackfillRecord, type DagSettings, type DagState, migrateStateFile, SCHEMA_VERSION, type StateChange, type StateFile} from './schema.js'
import type {StateStore} from './store.js'

/** How to open the state file. */
export interface JsonFileStoreOptions {
  clock: () => Date
  /** Called once when a write fails; from then on nothing more is written, and nothing more is called durable. */
  onFailure?: (error: UpdraftError) => void
  /** The DAG this process writes; only its section of the file is replaced on flush, so DAGs can share a file. */
  ownDagId: null | string
  path: string
  process: ProcessInfo
}

const FLUSH_INTERVAL_MS = 5000
const JOURNAL_BATCH_CHANGES = 4096
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
  private journalQueued = false
  /** Callbacks waiting for the changes recorded before them to reach the journal. */
  private durableWaiters: Array<() => void> = []
  private failure: null | UpdraftError = null
  /** Runs and backfill records of the own DAG this process changed: the only ones it writes into the file. */
  private readonly touchedRuns = new Set<string>()
  private readonly touchedBackfills = new Set<string>()
  /** Recorded changes not yet in the journal; they are serialised when written. */
  private unjournaled: StateChange[] = []
  private dirty = false
  private flushCostMs = 0
  private lastWrite: null | {file: StateFile; stamp: string} = null
  private flushing: Promise<void> = Promise.resolve()
  private readonly journalPath: null | string
  private memory: StateFile
  private timer: NodeJS.Timeout | undefined

  private constructor(private readonly options: JsonFileStoreOptions, memory: StateFile) {
    this.db = new Low(new PiecewiseJsonFile(options.path), emptyState())
    this.memory = memory
    this.journalPath = options.ownDagId === null ? null : journalPathFor(options.path, options.ownDagId, options.process.pid)
  }

  /** Opens (but never creates) the state file, replaying journals left by a crashed process. */
  static async open(options: JsonFileStoreOptions): Promise<JsonFileStore> {
    const memory = await readStateFile(options.path)
    for (const journal of journalsOf(options.path)) replayJournal(memory, journal)
    const olderSchema = memory.schema_version < SCHEMA_VERSION
    const store = new JsonFileStore(options, migrateStateFile(memory))
    // Only a process that will write upgrades the file: reading, or refusing a bad command, leaves it as it was.
    if (options.ownDagId !== null && olderSchema) await store.upgradeFile()
    if (options.ownDagId !== null && store.deadJournals().length > 0) {
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
    this.flushing = this.flushing
      .catch(() => {})
      .then(() => this.writeOwnSection())
      .catch((error: unknown) => {
        const failure = stateUnwritable(`write the state file ${this.options.path}`, error)
        this.fail(failure)
        throw failure
      })
    return this.flushing
  }

  /**
   * Runs `callback` once everything recorded so far is in the journal (at once if it already is), and never if
   * writing it fails: what a callback shows can then not be lost to a crash.
   */
  whenDurable(callback: () => void): void {
    if (this.failure) return
    if (this.unjournaled.length === 0 && this.durableWaiters.length === 0) callback()
    else this.durableWaiters.push(callback)
  }

  async readDag(dagId: string): Promise<DagState> {
    // Not copied: a deep copy of a year of hourly runs took a second, and every caller only reads.
    return this.memory.dags[dagId] ?? {runs: {}}
  }

  async readDagIds(): Promise<string[]> {
    return Object.keys(this.memory.dags)
  }

  record(changes: readonly StateChange[]): void {
    if (changes.length === 0) return
    for (const change of changes) applyChange(this.memory, change)
    if (this.failure) return
    if (this.journalPath) {
      for (const change of changes) {
        if (change.dag_id !== this.options.ownDagId) continue
        if (change.type === 'backfill') this.touchedBackfills.add(String(change.backfill.id))
        else this.touchedRuns.add(change.type === 'run' ? change.run.run_id : change.run_id)
        if (!isTransient(change)) this.unjournaled.push(change)
      }

      // Changes recorded in one turn of the event loop share one write(2), made at the end of that turn or once
      // a few thousand are waiting (in-process tasks can chain many changes without the loop turning): a write
      // per change cost a year of hourly runs more than a second in system calls alone.
      if (this.unjournaled.length >= JOURNAL_BATCH_CHANGES) {
        this.writeJournal()
      } else if (this.unjournaled.length > 0 && !this.journalQueued) {
        this.journalQueued = true
        setImmediate(() => {
          this.journalQueued = false
          this.writeJournal()
        })
      }
    }

    this.dirty = true
    this.scheduleFlush()
  }

  /**
   * Appends what was recorded to the journal; once write(2) returns it survives the death of this process. Runs
   * by itself at the end of each turn of the event loop; an exit that cannot wait for that calls it directly.
   */
  writeJournal(): void {
    if (this.failure || this.journalPath === null) return
    if (this.unjournaled.length > 0) {
      try {
        if (this.journalFd === null) {
          ensureDirectory(this.options.path)
          this.journalFd = openSync(this.journalPath, 'a')
        }

        writeSync(this.journalFd, journalText(this.unjournaled))
      } catch (error) {
        this.fail(stateUnwritable(`append to the journal ${this.journalPath}`, error))
        return
      }

      this.unjournaled = []
    }

    const waiters = this.durableWaiters
    this.durableWaiters = []
    for (const waiter of waiters) waiter()
  }

  /** The first write failure; later ones follow from it and are not reported again. */
  private fail(error: UpdraftError): void {
    if (this.failure) return
    this.failure = error
    this.unjournaled = []
    this.durableWaiters = []
    this.options.onFailure?.(error)
  }

  /**
   * Flushes in the background: the first change at once, so the state file exists from the start of a backfill;
   * after that every five seconds at most, and never more than a tenth of the time spent writing: the journal
   * already keeps every change and readers replay it, so the flush only bounds how much there is to replay.
   */
  private scheduleFlush(): void {
    if (this.timer) return
    const delay = this.lastWrite === null ? 0 : Math.max(FLUSH_INTERVAL_MS, 9 * this.flushCostMs)
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

  /**
   * Records a new backfill under the next free id: one more than the highest in the whole file, which other
   * processes may have written since it was read, so the file is read and the record written under its lock.
   */
  async createBackfill(make: (id: number) => BackfillRecord): Promise<BackfillRecord> {
    let created: BackfillRecord | undefined
    this.flushing = this.flushing
      .catch(() => {})
      .then(() =>
        this.writeOwnSection((onDisk) => {
          const ids = [onDisk, this.memory].flatMap((file) => Object.values(file.dags).flatMap((dag) => Object.values(dag.backfills ?? {}).map((record) => record.id)))
          created = make(Math.max(0, ...ids) + 1)
          this.record([{backfill: created, dag_id: created.dag_id, type: 'backfill'}])
        }),
      )
    await this.flushing
    return created as BackfillRecord
  }

  /** The DAG settings of the file (pause states), as this process last read it. */
  readDagSettings(): Record<string, DagSettings> {
    return this.memory.dag_settings ?? {}
  }

  /**
   * Changes DAG settings in the file (creating it if need be), under its write lock, without owning any DAG:
   * `dags pause` while a backfill of that DAG runs is fine, because a DAG's writer only replaces its own
   * section of what it reads back from disk. Returns the settings as written.
   */
  static async updateDagSettings(options: Omit<JsonFileStoreOptions, 'ownDagId'>, update: (settings: Record<string, DagSettings>) => void): Promise<Record<string, DagSettings>> {
    const store = new JsonFileStore({...options, ownDagId: null}, emptyState())
    ensureDirectory(options.path)
    let written: Record<string, DagSettings> = {}
    await store.rewriteUnderLock(`write the state file ${options.path}`, (onDisk) => {
      store.upgradeInMemory(onDisk)
      written = {...onDisk.dag_settings}
      update(written)
      onDisk.dag_settings = written
      return true
    })
    return written
  }

  /** The backfills recorded in the whole file, as this process last read or wrote it. */
  async readBackfills(): Promise<BackfillRecord[]> {
    return Object.values(this.memory.dags).flatMap((dag) => Object.values(dag.backfills ?? {}))
  }

  /** Writes the own DAG's section into the file; `beforeWrite` sees the file as it is on disk, under the lock. */
  private async writeOwnSection(beforeWrite?: (onDisk: StateFile) => void): Promise<void> {
    const {ownDagId, path} = this.options
    if ((!this.dirty && !beforeWrite) || ownDagId === null || this.journalPath === null) return
    // The journal first: whatever happens to the file, what was recorded is kept.
    this.writeJournal()
    if (this.failure) throw this.failure
    ensureDirectory(path)
    const release = await this.acquireWriteLock()
    const rotated = `${this.journalPath}.flushing`
    try {
      // Re-read the file only when another process wrote it since our last write.
      const stamp = fileStamp(path)
      const onDisk = this.lastWrite && stamp === this.lastWrite.stamp ? this.lastWrite.file : migrateStateFile(await readStateFile(path))
      beforeWrite?.(onDisk)
      // From here to db.write() nothing awaits: lowdb serialises the data synchronously when write() is called,
      // so the snapshot, the journal rotation and the serialisation see the same state without a copy. Changes
      // recorded while the file is being written land in a fresh journal.
      this.writeJournal()
      if (this.failure) throw this.failure
      if (this.journalFd !== null) closeSync(this.journalFd)
      this.journalFd = null
      if (existsSync(this.journalPath)) {
        if (existsSync(rotated)) appendFileSync(rotated, readFileSync(this.journalPath))
        else renameSync(this.journalPath, rotated)
        rmSync(this.journalPath, {force: true})
      }

      // Other processes own other runs of this DAG (§15): only what this one changed is replaced, and journals
      // that processes now dead left are folded in as they are on disk now.
      const folded = this.deadJournals()
      for (const journal of folded) replayJournal(onDisk, journal)
      const mine = this.memory.dags[ownDagId] ?? {runs: {}}
      const target = (onDisk.dags[ownDagId] ??= {runs: {}})
      for (const runId of this.touchedRuns) {
        const run = mine.runs[runId]
        if (run) target.runs[runId] = run
      }

      for (const id of this.touchedBackfills) {
        const record = mine.backfills?.[id]
        if (record) (target.backfills ??= {})[id] = record
      }

      this.db.data = onDisk
      this.dirty = false
      await this.db.write()
      this.lastWrite = {file: onDisk, stamp: fileStamp(path)}
      for (const journal of folded) rmSync(journal, {force: true})
    } catch (error) {
      this.dirty = true
      rmSync(temporaryPathOf(path), {force: true})
      throw stateUnwritable(`write the state file ${path}`, error)
    } finally {
      release()
    }

    rmSync(rotated, {force: true})
  }

  /** Journals of the own DAG whose writers are gone (a kill -9): the next writer of the DAG folds them in. */
  private deadJournals(): string[] {
    const {ownDagId, path, process} = this.options
    return journalsOf(path).filter((journal) => {
      const owner = journalOwnerOf(path, journal)
      return owner !== null && owner.dagId === ownDagId && (owner.pid === null || (owner.pid !== process.pid && !process.isAlive(owner.pid)))
    })
  }

  /**
   * Rewrites a file of an older schema in this one, atomically, after copying it to `<file>.v<N>.backup` (an
   * existing backup is kept: it is the oldest copy), so the release that wrote it can still be gone back to.
   */
  private async upgradeFile(): Promise<void> {
    await this.rewriteUnderLock(`upgrade the state file ${this.options.path} to schema_version ${SCHEMA_VERSION}`, (onDisk) => this.upgradeInMemory(onDisk))
  }

  /** Brings a file of an older schema read under the lock up to this one, after backing the file up; true if it did. */
  private upgradeInMemory(onDisk: StateFile): boolean {
    if (onDisk.schema_version >= SCHEMA_VERSION) return false
    const backup = `${this.options.path}.v${onDisk.schema_version}.backup`
    if (!existsSync(backup)) copyFileSync(this.options.path, backup)
    migrateStateFile(onDisk)
    return true
  }

  /** Reads the file under its write lock, lets `change` edit it, and writes it back atomically unless it says no. */
  private async rewriteUnderLock(purpose: string, change: (onDisk: StateFile) => boolean): Promise<void> {
    const {path} = this.options
    const release = await this.acquireWriteLock()
    try {
      const onDisk = await readStateFile(path)
      if (!change(onDisk)) return
      this.db.data = onDisk
      await this.db.write()
    } catch (error) {
      rmSync(temporaryPathOf(path), {force: true})
      throw stateUnwritable(purpose, error)
    } finally {
      release()
    }
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
 * lowdb's adapter for the state file. It writes the pretty JSON lowdb's JSONFile writes, atomically (temporary
 * file, then rename), but in pieces of about a megabyte: a year of hourly runs is a 40 MB document, and holding
 * it as one string plus its encoded copy raised a backfill's peak memory by a third. It serialises synchronously
 * when `write()` is called, as JSONFile does, which the journal rotation relies on.
 */
class PiecewiseJsonFile implements Adapter<StateFile> {
  constructor(private readonly path: string) {}

  async read(): Promise<StateFile> {
    return readStateFile(this.path)
  }

  async write(data: StateFile): Promise<void> {
    const temporary = temporaryPathOf(this.path)
    const fd = openSync(temporary, 'w')
    try {
      let pending = ''
      const emit = (text: string) => {
        pending += text
        if (pending.length >= PIECE_CHARS) {
          writeSync(fd, pending)
          pending = ''
        }
      }

      writePretty(data, 0, emit)
      if (pending !== '') writeSync(fd, pending)
    } finally {
      closeSync(fd)
    }

    renameSync(temporary, this.path)
  }
}

const PIECE_CHARS = 1 << 20
/** From this depth on (a DAG's runs) entries are stringified by JSON.stringify itself, this many at a time. */
const GROUPED_DEPTH = 3
const GROUP_SIZE = 256

/** `JSON.stringify(value, null, 2)` for a value at nesting `depth`, handed to `emit` in pieces. */
function writePretty(value: unknown, depth: number, emit: (text: string) => void): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    emit((JSON.stringify(value, null, 2) ?? 'null').replaceAll('\n', `\n${'  '.repeat(depth)}`))
    return
  }

  const entries = Object.entries(value).filter(([, item]) => item !== undefined)
  if (entries.length === 0) {
    emit('{}')
    return
  }

  emit('{')
  if (depth >= GROUPED_DEPTH) {
    for (let start = 0; start < entries.length; start += GROUP_SIZE) {
      emit(`${start === 0 ? '' : ','}${entriesText(entries.slice(start, start + GROUP_SIZE), depth + 1)}`)
    }
  } else {
    for (const [index, [key, item]] of entries.entries()) {
      emit(`${index === 0 ? '' : ','}\n${'  '.repeat(depth + 1)}${JSON.stringify(key)}: `)
      writePretty(item, depth + 1, emit)
    }
  }

  emit(`\n${'  '.repeat(depth)}}`)
}

/**
 * Object entries as JSON.stringify indents them at `level`: it writes the entries of an object nested
 * `level - 1` objects deep exactly there, so the group is wrapped that deep and the wrappers are cut off again.
 */
function entriesText(entries: Array<[string, unknown]>, level: number): string {
  let wrapped: unknown = Object.fromEntries(entries)
  let head = '{'
  let tail = '\n}'
  for (let wrapper = 1; wrapper < level; wrapper++) {
    wrapped = {_: wrapped}
    head += `\n${'  '.repeat(wrapper)}"_": {`
    tail = `\n${'  '.repeat(level - wrapper)}}${tail}`
  }

  const text = JSON.stringify(wrapped, null, 2)
  return text.slice(head.length, text.length - tail.length)
}

function temporaryPathOf(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp`)
}

/**
 * Journal lines for a batch of changes, written as the batch goes to disk. A task instance changed twice in one
 * batch (running, then success) is written once, with its later state: replay applies lines in order and an
 * instance's later state supersedes its earlier one, so the earlier line would change nothing. A run recorded in
 * the batch is serialised as the store holds it now, i.e. with every later change to its instances applied, and
 * any earlier change replaced; so the instance lines of that run are left out too.
 */
function journalText(changes: readonly StateChange[]): string {
  const wholeRuns = new Set(changes.filter((change) => change.type === 'run').map((change) => change.run.run_id))
  const laterInBatch = new Set<string>()
  const lines: string[] = []
  for (let index = changes.length - 1; index >= 0; index--) {
    const change = changes[index] as StateChange
    if (change.type === 'task_instance') {
      if (wholeRuns.has(change.run_id)) continue
      const key = `${change.run_id}\u0000${change.task_id}`
      if (laterInBatch.has(key)) continue
      laterInBatch.add(key)
    }

    lines.push(JSON.stringify(change))
  }

  return `${lines.reverse().join('\n')}\n`
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

/** Each writing process has its own journal, so two backfills of one DAG never share one. */
function journalPathFor(path: string, dagId: string, pid: number): string {
  return `${path}.${encodeURIComponent(dagId)}.journal-${pid}`
}

/** The DAG and writer of a journal; a journal of an older release names no writer (its process is long gone). */
function journalOwnerOf(path: string, journal: string): null | {dagId: string; pid: null | number} {
  const match = /^\.(.+)\.journal(?:-(\d+))?(?:\.flushing)?$/.exec(journal.slice(path.length))
  if (!match || !journal.startsWith(path)) return null
  return {dagId: decodeURIComponent(match[1] as string), pid: match[2] === undefined ? null : Number(match[2])}
}

function journalsOf(path: string): string[] {
  const directory = dirname(path)
  const prefix = `${basename(path)}.`
  if (!existsSync(directory)) return []
  return (
    readdirNames(directory)
      .filter((name) => name.startsWith(prefix) && /\.journal(-\d+)?(\.flushing)?$/.test(name))
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
  let text: string
  try {
    text = readFileSync(journal, 'utf8')
  } catch (error) {
    // Another DAG's backfill rotated or folded it between the listing and the read: its changes are in the
    // rotated journal or already in the file, and they are that process's to keep.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
    throw error
  }

  const lines = text.split('\n')
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
