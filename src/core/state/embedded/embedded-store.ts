import {appendFileSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync} from 'node:fs'
import {dirname} from 'node:path'
import {isDeepStrictEqual} from 'node:util'

import {stateUnwritable, systemErrorText, UpdraftError} from '../../errors.js'
import {progressOf} from '../backfills.js'
import {applyChange, type BackfillRecord, type DagRunRecord, type DagSettings, type DagState, migrateStateFile, SCHEMA_VERSION, type StateChange, type StateFile} from '../schema.js'
import {type Catalog, type ClaimedRun, type ClaimResult, type DagSummary, listedBackfillOf, NO_SUMMARY, type RunClaim, type RunRange, type StateStore, type StoreOptions, summaryAfter, wholeBackfillOf} from '../store.js'
import {acquireLock, claimRuns, liveClaimsOf} from './claims.js'
import {type CatalogDocument, emptyCatalog, periodOf, periodsBetween, readCatalogOrLegacy, readDocument, type RunIdsDocument, type ShardDocument, writeDocument} from './documents.js'
import {readLocalLog} from '../local-log.js'
import {EMPTY_LEDGER, type LedgerAccess, LedgerPools, type PoolLedger, type PoolStore} from '../pools.js'
import {inRange, isInRange, WriterRuns} from '../writer-runs.js'
import {StoreFiles} from './files.js'

const FLUSH_INTERVAL_MS = 5000
const JOURNAL_BATCH_CHANGES = 4096
const WRITE_LOCK_TIMEOUT_MS = 30_000

/**
 * The embedded store (README "Where state lives"): a catalog and, per DAG, its runs in shards by period, each a lowdb document written
 * whole to a temporary file and renamed. A writer appends each recorded change of its DAG to its own journal
 * by the end of the turn it was recorded in, so a kill -9 loses nothing; a flush (at once for the first change,
 * then every few seconds, and at close) writes the shards and catalog entries it changed and starts a fresh
 * journal. Readers read the documents they need and replay the journals on top.
 */
export class EmbeddedStore implements StateStore {
  readonly pools: PoolStore
  private readonly files: StoreFiles
  /** The whole state of an older schema, read but not upgraded (a reader leaves it as it is). */
  private legacy: null | StateFile = null
  /** The runs of the writer's DAG this process read or recorded. */
  private readonly own: null | WriterRuns
  private readonly touchedRecords = new Map<number, BackfillRecord>()
  private closed = false
  private journalFd: null | number = null
  private journalQueued = false
  private durableWaiters: Array<() => void> = []
  private failure: null | UpdraftError = null
  private unjournaled: StateChange[] = []
  private dirty = false
  private flushedOnce = false
  /** The writer's DAG summary as this process last wrote it into the catalog. */
  private summary: DagSummary | null = null
  private flushCostMs = 0
  private flushing: Promise<void> = Promise.resolve()
  private timer: NodeJS.Timeout | undefined

  private constructor(path: string, private readonly options: StoreOptions) {
    this.files = new StoreFiles(path)
    this.own = options.writer === null ? null : new WriterRuns(options.writer)
    this.pools = new LedgerPools(this.ledgerAccess(), options.process, null)
  }

  /** The pool ledger is one small document, changed under its own lock so slots never wait on a DAG's writes. */
  private ledgerAccess(): LedgerAccess {
    const {files, options} = this
    const now = () => options.clock().getTime()
    return {
      read: async () => ({ledger: readDocument<PoolLedger>(files.poolLedger, EMPTY_LEDGER), now: now()}),
      update: async (change) => {
        try {
          mkdirSync(dirname(files.poolLedger), {recursive: true})
        } catch (error) {
          throw stateUnwritable(`create ${dirname(files.poolLedger)}`, error)
        }

        const release = await acquireLock(files.poolLedgerLock, options.process, options.clock, WRITE_LOCK_TIMEOUT_MS)
        try {
          const before = readDocument<PoolLedger>(files.poolLedger, EMPTY_LEDGER)
          const {ledger, result} = change(before, now())
          try {
            // Most polls of a waiting process change nothing; they then only read.
            if (!isDeepStrictEqual(ledger, before)) writeDocument(files.poolLedger, ledger)
          } catch (error) {
            throw stateUnwritable(`write ${files.poolLedger}`, error)
          }

          return result
        } finally {
          release()
        }
      },
    }
  }

  /** Opens the store at `path` (never creating it unless it writes); a writer folds in what dead writers left. */
  static async open(path: string, options: StoreOptions): Promise<EmbeddedStore> {
    const store = new EmbeddedStore(path, options)
    const found = readCatalogOrLegacy(path)
    if (found.kind === 'legacy') {
      if (options.writer === null) store.legacy = legacyState(store.files, found.file)
      else await store.upgrade()
    }

    if (options.writer !== null && store.deadJournals().length > 0) {
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
      .then(() => this.writeOwnChanges())
      .catch((error: unknown) => {
        const failure = stateUnwritable(`write the state in ${this.files.directory}`, error)
        this.fail(failure)
        throw failure
      })
    return this.flushing
  }

  whenDurable(callback: () => void): void {
    if (this.failure) return
    if (this.unjournaled.length === 0 && this.durableWaiters.length === 0) callback()
    else this.durableWaiters.push(callback)
  }

  async readRuns(dagId: string, range: null | RunRange = null): Promise<DagState> {
    if (this.legacy) return {runs: inRange(this.legacy.dags[dagId]?.runs ?? {}, range)}
    const own = dagId === this.options.writer ? this.own : null
    const cached = own?.cached(range)
    if (cached) return cached
    const runs: Record<string, DagRunRecord> = {}
    const periods = new Set(this.files.periodsOf(dagId))
    const wanted = range === null ? [...periods] : [...periodsBetween(range.from, range.to), 'keys'].filter((period) => periods.has(period))
    for (const period of wanted) Object.assign(runs, readDocument<ShardDocument>(this.files.shard(dagId, period), {runs: {}}).runs)
    const state: StateFile = {dags: {[dagId]: {runs}}, schema_version: SCHEMA_VERSION}
    // The writer's own journal repeats what it holds in memory, and is the longest of all.
    const replayed = this.files.journals(dagId).filter((journal) => own === null || journal.pid !== this.options.process.pid)
    for (const journal of replayed) {
      replayJournal(journal.path, (change) => {
        if (change.type === 'backfill' || (change.type === 'run' && !isInRange(change.run.logical_date, range))) return
        applyChange(state, change)
      })
    }

    const read = state.dags[dagId] as DagState
    return own ? own.merge(read.runs, range) : {runs: inRange(read.runs, range)}
  }

  async readDagIds(): Promise<string[]> {
    if (this.legacy) return Object.keys(this.legacy.dags)
    return [...new Set([...this.files.shardedDagIds(), ...this.files.journals().map((journal) => journal.dagId)])]
  }

  async readCatalog(): Promise<Catalog> {
    if (this.legacy) return catalogOfLegacy(this.legacy)
    const found = readCatalogOrLegacy(this.files.catalog)
    if (found.kind === 'legacy') {
      this.legacy = legacyState(this.files, found.file)
      return catalogOfLegacy(this.legacy)
    }

    const catalog = found.kind === 'catalog' ? found.catalog : emptyCatalog()
    for (const record of [...this.journaledRecords(), ...this.touchedRecords.values()]) catalog.backfills[String(record.id)] = listedBackfillOf(record)
    return {backfills: Object.values(catalog.backfills), settings: catalog.dag_settings, summaries: catalog.dags}
  }

  readLog(path: string): Promise<null | string> {
    return readLocalLog(path)
  }

  async readBackfillRunIds(backfillId: number): Promise<string[]> {
    if (this.legacy) return Object.values(this.legacy.dags).find((dag) => dag.backfills?.[String(backfillId)])?.backfills?.[String(backfillId)]?.run_ids ?? []
    const touched = this.touchedRecords.get(backfillId)
    if (touched) return touched.run_ids
    const journaled = this.journaledRecords().filter((record) => record.id === backfillId).at(-1)
    return journaled?.run_ids ?? readDocument<RunIdsDocument>(this.files.runIdsOf(backfillId), {run_ids: []}).run_ids
  }

  record(changes: readonly StateChange[]): void {
    if (changes.length === 0) return
    const ownDagId = this.options.writer
    for (const change of changes) {
      if (change.dag_id !== ownDagId) continue
      if (change.type === 'backfill') this.touchedRecords.set(change.backfill.id, change.backfill)
      else this.own?.apply(change)

      if (!this.failure && !isTransient(change)) this.unjournaled.push(change)
    }

    if (this.failure) return
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

    this.dirty = true
    this.scheduleFlush()
  }

  writeJournal(): void {
    const dagId = this.options.writer
    if (this.failure || dagId === null) return
    const path = this.files.journal(dagId, this.options.process.pid)
    if (this.unjournaled.length > 0) {
      try {
        if (this.journalFd === null) {
          mkdirSync(this.files.directory, {recursive: true})
          this.journalFd = openSync(path, 'a')
        }

        writeSync(this.journalFd, journalText(this.unjournaled))
      } catch (error) {
        this.fail(stateUnwritable(`append to the journal ${path}`, error))
        return
      }

      this.unjournaled = []
    }

    const waiters = this.durableWaiters
    this.durableWaiters = []
    for (const waiter of waiters) waiter()
  }

  async createBackfill(make: (id: number) => BackfillRecord): Promise<BackfillRecord> {
    let created: BackfillRecord | undefined
    await this.rewriteCatalog('record a new backfill', (catalog) => {
      // Ids count over the whole store, and records a dead writer left only in its journal count too.
      const ids = [...Object.values(catalog.backfills), ...this.touchedRecords.values(), ...this.journaledRecords()].map((record) => record.id)
      created = make(Math.max(0, ...ids) + 1)
      this.putRecord(catalog, created)
    })
    const record = created as BackfillRecord
    this.record([{backfill: record, dag_id: record.dag_id, type: 'backfill'}])
    return record
  }

  async updateDagSettings(update: (settings: Record<string, DagSettings>) => void): Promise<Record<string, DagSettings>> {
    let written: Record<string, DagSettings> = {}
    await this.rewriteCatalog('write DAG settings', (catalog) => {
      written = {...catalog.dag_settings}
      update(written)
      catalog.dag_settings = written
    })
    return written
  }

  async claimRuns(dagId: string, runs: readonly ClaimedRun[]): Promise<ClaimResult> {
    this.ensureDirectory()
    return claimRuns(this.files, dagId, runs, this.options.process, this.options.clock)
  }

  async liveClaims(dagId: string): Promise<RunClaim[]> {
    return liveClaimsOf(this.files, dagId, this.options.process)
  }

  async requestCancel(backfillId: number, by: string): Promise<void> {
    this.ensureDirectory()
    try {
      writeFileSync(this.files.cancelOf(backfillId), JSON.stringify({by}))
    } catch (error) {
      throw stateUnwritable(`ask backfill ${backfillId} to stop`, error)
    }
  }

  async requestPause(backfillId: number, paused: boolean): Promise<void> {
    this.ensureDirectory()
    try {
      if (paused) writeFileSync(this.files.pauseOf(backfillId), '')
      else rmSync(this.files.pauseOf(backfillId), {force: true})
    } catch (error) {
      throw stateUnwritable(`ask backfill ${backfillId} to ${paused ? 'pause' : 'go on'}`, error)
    }
  }

  async pauseRequested(backfillId: number): Promise<boolean> {
    return existsSync(this.files.pauseOf(backfillId))
  }

  async updateBackfill(backfillId: number, change: (record: BackfillRecord) => BackfillRecord | null): Promise<BackfillRecord | null> {
    let changed: BackfillRecord | null = null
    await this.rewriteCatalog(`change backfill ${backfillId}`, (catalog) => {
      const journaled = this.journaledRecords().filter((record) => record.id === backfillId).at(-1)
      const listed = catalog.backfills[String(backfillId)]
      const current = journaled ?? (listed && wholeBackfillOf(listed, readDocument<RunIdsDocument>(this.files.runIdsOf(backfillId), {run_ids: []}).run_ids))
      changed = current ? change(structuredClone(current)) : null
      if (changed) this.putRecord(catalog, changed)
    })
    return changed
  }

  async cancelRequestOf(backfillId: number, options: {clear: boolean} = {clear: false}): Promise<null | string> {
    const path = this.files.cancelOf(backfillId)
    if (!existsSync(path)) return null
    let by = 'another process'
    try {
      by = (JSON.parse(readFileSync(path, 'utf8')) as {by: string}).by
    } catch {
      // Caught half-written: a request all the same.
    }

    if (options.clear) {
      try {
        rmSync(path, {force: true})
      } catch {
        // A state folder turned unwritable keeps the request; the backfill it names has stopped anyway.
      }
    }

    return by
  }

  async changeSignature(): Promise<string> {
    return this.files
      .watched()
      .map((path) => {
        try {
          const stat = statSync(path)
          return `${path}:${stat.ino}:${stat.size}:${stat.mtimeMs}`
        } catch {
          return `${path}:gone`
        }
      })
      .join('|')
  }

  /**
   * Records as the journals have them, oldest first: they change there before a flush writes them into the
   * catalog (a record closed just before a kill -9 is only there). Only their lines are parsed.
   */
  private journaledRecords(): BackfillRecord[] {
    const records: BackfillRecord[] = []
    for (const journal of this.files.journals()) {
      replayJournal(journal.path, (change) => {
        if (change.type === 'backfill') records.push(change.backfill)
      }, '"type":"backfill"')
    }

    return records
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
   * Flushes in the background: the first change at once, so the state exists from the start of a backfill;
   * after that every five seconds at most, and never more than a tenth of the time spent writing: the journal
   * already keeps every change and readers replay it, so the flush only bounds how much there is to replay.
   */
  private scheduleFlush(): void {
    if (this.timer) return
    const delay = this.flushedOnce ? Math.max(FLUSH_INTERVAL_MS, 9 * this.flushCostMs) : 0
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
   * Writes the shards holding runs this process changed, and the catalog entries it changed, each read back
   * from disk under its lock so other writers' runs and records stay as they wrote them; journals that dead
   * writers of the DAG left are folded in on the way.
   */
  private async writeOwnChanges(): Promise<void> {
    const dagId = this.options.writer
    if (!this.dirty || dagId === null) return
    this.writeJournal()
    if (this.failure) throw this.failure
    this.ensureDirectory()
    const release = await acquireLock(this.files.dagLock(dagId), this.options.process, this.options.clock, WRITE_LOCK_TIMEOUT_MS)
    const journal = this.files.journal(dagId, this.options.process.pid)
    const rotated = `${journal}.flushing`
    try {
      // From here until the documents are serialised nothing awaits: changes recorded meanwhile would land in
      // the journal that is being rotated, and be folded in without being written.
      this.writeJournal()
      if (this.failure) throw this.failure
      if (this.journalFd !== null) closeSync(this.journalFd)
      this.journalFd = null
      if (existsSync(journal)) {
        if (existsSync(rotated)) appendFileSync(rotated, readFileSync(journal))
        else renameSync(journal, rotated)
        rmSync(journal, {force: true})
      }

      const shards = new Map<string, ShardDocument>()
      const shardOf = (period: string) => shards.get(period) ?? shards.set(period, readDocument<ShardDocument>(this.files.shard(dagId, period), {runs: {}})).get(period) as ShardDocument
      const records = new Map(this.touchedRecords)
      const changedRuns: DagRunRecord[] = []
      const dead = this.deadJournals()
      if (dead.length > 0) {
        // Which shard a dead writer's change belongs to is known only from its run: every shard is read.
        const whole: StateFile = {dags: {[dagId]: {runs: {}}}, schema_version: SCHEMA_VERSION}
        const homes = new Map<string, string>()
        for (const period of this.files.periodsOf(dagId)) {
          for (const [runId, run] of Object.entries(shardOf(period).runs)) {
            ;(whole.dags[dagId] as DagState).runs[runId] = run
            homes.set(runId, period)
          }
        }

        const changed = new Set<string>()
        for (const path of dead) {
          replayJournal(path, (change) => {
            if (change.type === 'backfill') {
              if (!records.has(change.backfill.id)) records.set(change.backfill.id, change.backfill)
              return
            }

            applyChange(whole, change)
            changed.add(change.type === 'run' ? change.run.run_id : change.run_id)
          })
        }

        for (const runId of changed) {
          const run = (whole.dags[dagId] as DagState).runs[runId]
          if (!run) continue
          const period = periodOf(run.logical_date)
          const home = homes.get(runId)
          if (home !== undefined && home !== period) delete shardOf(home).runs[runId]
          shardOf(period).runs[runId] = run
          changedRuns.push(run)
        }
      }

      for (const run of this.own?.takeTouched() ?? []) {
        shardOf(periodOf(run.logical_date)).runs[run.run_id] = run
        changedRuns.push(run)
      }

      this.touchedRecords.clear()
      this.dirty = false
      for (const [period, shard] of shards) writeDocument(this.files.shard(dagId, period), shard)
      // The catalog is rewritten only when what it says changed: most flushes of a long backfill change only runs.
      if (records.size > 0 || this.summary === null || !isDeepStrictEqual(summaryAfter(this.summary, changedRuns), this.summary)) {
        await this.rewriteCatalog('write the catalog', (catalog) => {
          for (const record of records.values()) this.putRecord(catalog, record)
          this.summary = summaryAfter(catalog.dags[dagId] ?? NO_SUMMARY, changedRuns)
          catalog.dags[dagId] = this.summary
        })
      }

      for (const path of dead) rmSync(path, {force: true})
      this.flushedOnce = true
    } catch (error) {
      this.dirty = true
      throw stateUnwritable(`write the state of ${dagId} in ${this.files.directory}`, error)
    } finally {
      release()
    }

    rmSync(rotated, {force: true})
  }

  /** Journals of the writer's DAG whose writers are gone (a kill -9): the next writer of the DAG folds them in. */
  private deadJournals(): string[] {
    const {process, writer} = this.options
    return this.files
      .journals(writer ?? undefined)
      .filter((journal) => writer !== null && (journal.pid === null || (journal.pid !== process.pid && !process.isAlive(journal.pid))))
      .map((journal) => journal.path)
  }

  /** Reads the catalog under its lock, lets `change` edit it, and writes it back whole; upgrades an older store first. */
  private async rewriteCatalog(purpose: string, change: (catalog: CatalogDocument) => void): Promise<void> {
    this.ensureDirectory()
    const release = await acquireLock(this.files.catalogLock, this.options.process, this.options.clock, WRITE_LOCK_TIMEOUT_MS)
    try {
      const found = readCatalogOrLegacy(this.files.catalog)
      const catalog = found.kind === 'catalog' ? found.catalog : found.kind === 'legacy' ? this.split(found.file) : emptyCatalog()
      change(catalog)
      writeDocument(this.files.catalog, catalog)
    } catch (error) {
      throw stateUnwritable(purpose, error)
    } finally {
      release()
    }
  }

  /**
   * Puts a record in the catalog, its run ids in a document of their own, written only when they changed (a
   * resume adds runs; nothing else changes them) and before the catalog that counts them.
   */
  private putRecord(catalog: CatalogDocument, record: BackfillRecord): void {
    if (catalog.backfills[String(record.id)]?.runs_total !== record.run_ids.length) writeDocument(this.files.runIdsOf(record.id), {run_ids: record.run_ids} satisfies RunIdsDocument)
    catalog.backfills[String(record.id)] = listedBackfillOf(record)
  }

  /** Upgrades a store of an older schema, unless another writer just did. */
  private async upgrade(): Promise<void> {
    await this.rewriteCatalog(`upgrade the state in ${this.files.catalog} to schema_version ${SCHEMA_VERSION}`, () => {})
  }

  /**
   * Turns the whole state file of an older schema into shards, returning the catalog that replaces it (written
   * by the caller, last, so a crash before then leaves the old file in place to be upgraded again). The file is
   * first copied byte for byte to `<file>.v<N>.backup` (an existing backup is kept: it is the oldest copy), so
   * the release that wrote it can still be gone back to. Journals that file's writers left are folded in.
   */
  private split(file: StateFile): CatalogDocument {
    const backup = this.files.backupOf(file.schema_version)
    if (!existsSync(backup)) copyFileSync(this.files.catalog, backup)
    const journals = this.files.journals().filter((journal) => journal.pid === null || !this.options.process.isAlive(journal.pid))
    for (const journal of journals) replayJournal(journal.path, (change) => applyChange(file, change))
    migrateStateFile(file)
    const catalog = catalogDocumentOf(file)
    for (const [dagId, dag] of Object.entries(file.dags)) {
      for (const record of Object.values(dag.backfills ?? {})) writeDocument(this.files.runIdsOf(record.id), {run_ids: record.run_ids} satisfies RunIdsDocument)
      const shards = new Map<string, Record<string, DagRunRecord>>()
      for (const run of Object.values(dag.runs)) {
        const period = periodOf(run.logical_date)
        ;(shards.get(period) ?? shards.set(period, {}).get(period) as Record<string, DagRunRecord>)[run.run_id] = run
      }

      for (const [period, runs] of shards) writeDocument(this.files.shard(dagId, period), {runs} satisfies ShardDocument)
    }

    for (const journal of journals) rmSync(journal.path, {force: true})
    return catalog
  }

  private ensureDirectory(): void {
    try {
      mkdirSync(this.files.directory, {recursive: true})
    } catch (error) {
      throw new UpdraftError('STATE_FILE_UNWRITABLE', `Expected a writable state directory ${this.files.directory}, got ${systemErrorText(error)}`, {
        suggestions: ['Pass --db or set UPDRAFT_DB to a writable location.'],
      })
    }
  }
}

/** The catalog of a whole state: its records and settings, and each DAG's summary from its runs. */
function catalogDocumentOf(file: StateFile): CatalogDocument {
  const catalog = emptyCatalog()
  catalog.dag_settings = {...file.dag_settings}
  for (const [dagId, dag] of Object.entries(file.dags)) {
    for (const record of Object.values(dag.backfills ?? {})) {
      catalog.backfills[String(record.id)] = listedBackfillOf(record.state === 'running' ? record : {...record, runs_done: progressOf(record, dag).done})
    }

    catalog.dags[dagId] = summaryAfter(NO_SUMMARY, Object.values(dag.runs))
  }

  return catalog
}

function catalogOfLegacy(file: StateFile): Catalog {
  const catalog = catalogDocumentOf(file)
  return {backfills: Object.values(catalog.backfills), settings: catalog.dag_settings, summaries: catalog.dags}
}

/** A whole state file of an older schema with the journals beside it replayed, in memory only. */
function legacyState(files: StoreFiles, file: StateFile): StateFile {
  for (const journal of files.journals()) replayJournal(journal.path, (change) => applyChange(file, change))
  return migrateStateFile(file)
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

/** Hands each change of a journal to `apply`, only lines containing `only` when given; a line cut short ends it. */
function replayJournal(path: string, apply: (change: StateChange) => void, only?: string): void {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    // Rotated or folded by its writer between the listing and the read: its changes are in the rotated journal
    // or already in the documents.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
    throw error
  }

  for (const line of text.split('\n')) {
    if (line.trim() === '' || (only !== undefined && !line.includes(only))) continue
    let change: StateChange
    try {
      change = JSON.parse(line) as StateChange
    } catch {
      // A kill -9 can cut the last line short; everything before it is intact.
      continue
    }

    apply(change)
  }
}

/**
 * The whole state of the embedded store at `path` in the single-document shape of schema 2 (records in their
 * DAG's section), with every journal replayed: what copying a state and comparing two states need.
 */
export function readWholeState(path: string): StateFile {
  const files = new StoreFiles(path)
  const found = readCatalogOrLegacy(path)
  if (found.kind === 'legacy') return legacyState(files, found.file)
  const catalog = found.kind === 'catalog' ? found.catalog : emptyCatalog()
  const whole: StateFile = {dag_settings: catalog.dag_settings, dags: {}, schema_version: SCHEMA_VERSION}
  for (const dagId of files.shardedDagIds()) {
    const runs: Record<string, DagRunRecord> = {}
    for (const period of files.periodsOf(dagId)) Object.assign(runs, readDocument<ShardDocument>(files.shard(dagId, period), {runs: {}}).runs)
    whole.dags[dagId] = {runs}
  }

  for (const listed of Object.values(catalog.backfills)) {
    const {runs_done: _done, ...record} = wholeBackfillOf(listed, readDocument<RunIdsDocument>(files.runIdsOf(listed.id), {run_ids: []}).run_ids)
    ;((whole.dags[record.dag_id] ??= {runs: {}}).backfills ??= {})[String(record.id)] = record
  }

  for (const journal of files.journals()) replayJournal(journal.path, (change) => applyChange(whole, change))
  return whole
}
