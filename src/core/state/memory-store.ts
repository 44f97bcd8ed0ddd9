import {readLocalLog} from './local-log.js'
import {EMPTY_LEDGER, LedgerPools, type PoolLedger, type PoolStore} from './pools.js'
import {inRange} from './writer-runs.js'
import {applyChange, type BackfillRecord, type DagSettings, type DagState, SCHEMA_VERSION, type StateChange, type StateFile} from './schema.js'
import {type Catalog, type ClaimedRun, type ClaimResult, type DagSummary, listedBackfillOf, NO_SUMMARY, type RunClaim, type RunRange, type StateStore, type StoreOptions, summaryAfter} from './store.js'

/** What several `MemoryStore`s share, as processes share the files of the embedded store. */
export class MemoryState {
  readonly cancels = new Map<number, string>()
  readonly pauses = new Set<number>()
  readonly claims = new Map<string, Array<RunClaim & {dagId: string}>>()
  readonly file: StateFile
  ledger: PoolLedger = EMPTY_LEDGER
  readonly summaries: Record<string, DagSummary> = {}
  version = 0

  constructor(initial: StateFile = {dags: {}, schema_version: SCHEMA_VERSION}) {
    this.file = structuredClone(initial)
  }
}

/** The store in memory, for unit tests and the contract suite; each instance acts as one process. */
export class MemoryStore implements StateStore {
  readonly pools: PoolStore

  constructor(
    readonly shared: MemoryState = new MemoryState(),
    private readonly options: StoreOptions = {clock: () => new Date(0), process: {host: 'memory', isAlive: () => true, pid: 1}, writer: null},
  ) {
    const now = () => options.clock().getTime()
    this.pools = new LedgerPools(
      {
        read: async () => ({ledger: shared.ledger, now: now()}),
        async update(change) {
          const {ledger, result} = change(shared.ledger, now())
          shared.ledger = ledger
          return result
        },
      },
      options.process,
      null,
    )
  }

  async claimRuns(dagId: string, runs: readonly ClaimedRun[]): Promise<ClaimResult> {
    const live = (this.shared.claims.get(dagId) ?? []).filter((claim) => this.options.process.isAlive(claim.pid))
    const wanted = new Map(runs.map((run) => [run.key, run]))
    for (const claim of live) {
      const taken = claim.runs.find((run) => wanted.has(run.key))
      if (taken) return {owner: claim, run: wanted.get(taken.key) as ClaimedRun}
    }

    const claim = {dagId, pid: this.options.process.pid, runs: structuredClone(runs), since: this.options.clock().toISOString()}
    this.shared.claims.set(dagId, [...live, claim])
    return {
      release: async () => {
        this.shared.claims.set(dagId, (this.shared.claims.get(dagId) ?? []).filter((other) => other !== claim))
      },
    }
  }

  async close(): Promise<void> {}

  async flush(): Promise<void> {}

  async requestCancel(backfillId: number, by: string): Promise<void> {
    this.shared.cancels.set(backfillId, by)
  }

  async cancelRequestOf(backfillId: number, options: {clear: boolean} = {clear: false}): Promise<null | string> {
    const by = this.shared.cancels.get(backfillId) ?? null
    if (options.clear) this.shared.cancels.delete(backfillId)
    return by
  }

  async requestPause(backfillId: number, paused: boolean): Promise<void> {
    if (paused) this.shared.pauses.add(backfillId)
    else this.shared.pauses.delete(backfillId)
  }

  async pauseRequested(backfillId: number): Promise<boolean> {
    return this.shared.pauses.has(backfillId)
  }

  async updateBackfill(backfillId: number, change: (record: BackfillRecord) => BackfillRecord | null): Promise<BackfillRecord | null> {
    const current = this.records().find((record) => record.id === backfillId)
    const changed = current ? change(structuredClone(current)) : null
    if (changed) applyChange(this.shared.file, {backfill: structuredClone(changed), dag_id: changed.dag_id, type: 'backfill'})
    this.shared.version += 1
    return changed
  }

  async changeSignature(): Promise<string> {
    return String(this.shared.version)
  }

  async createBackfill(make: (id: number) => BackfillRecord): Promise<BackfillRecord> {
    const record = make(Math.max(0, ...this.records().map((recorded) => recorded.id)) + 1)
    this.record([{backfill: record, dag_id: record.dag_id, type: 'backfill'}])
    return record
  }

  async liveClaims(dagId: string): Promise<RunClaim[]> {
    return (this.shared.claims.get(dagId) ?? []).filter((claim) => this.options.process.isAlive(claim.pid)).map(({dagId: _dagId, ...claim}) => claim)
  }

  readLog(path: string): Promise<null | string> {
    return readLocalLog(path)
  }

  async readBackfillRunIds(backfillId: number): Promise<string[]> {
    return structuredClone(this.records().find((record) => record.id === backfillId)?.run_ids ?? [])
  }

  async readCatalog(): Promise<Catalog> {
    return structuredClone({
      backfills: this.records().map((record) => listedBackfillOf(record)),
      settings: this.shared.file.dag_settings ?? {},
      summaries: this.shared.summaries,
    })
  }

  async readDagIds(): Promise<string[]> {
    return Object.keys(this.shared.file.dags).filter((dagId) => Object.keys(this.shared.file.dags[dagId]?.runs ?? {}).length > 0)
  }

  async readRuns(dagId: string, range: null | RunRange = null): Promise<DagState> {
    return {runs: inRange(structuredClone(this.shared.file.dags[dagId]?.runs ?? {}), range)}
  }

  record(changes: readonly StateChange[]): void {
    for (const change of changes) {
      if (change.dag_id !== this.options.writer) continue
      applyChange(this.shared.file, structuredClone(change))
      const run = change.type === 'backfill' ? undefined : this.shared.file.dags[change.dag_id]?.runs[change.type === 'run' ? change.run.run_id : change.run_id]
      if (run) this.shared.summaries[change.dag_id] = summaryAfter(this.shared.summaries[change.dag_id] ?? NO_SUMMARY, [run])
    }

    this.shared.version += 1
  }

  async updateDagSettings(update: (settings: Record<string, DagSettings>) => void): Promise<Record<string, DagSettings>> {
    const settings = {...this.shared.file.dag_settings}
    update(settings)
    this.shared.file.dag_settings = settings
    this.shared.version += 1
    return structuredClone(settings)
  }

  whenDurable(callback: () => void): void {
    callback()
  }

  writeJournal(): void {}

  private records(): BackfillRecord[] {
    return Object.values(this.shared.file.dags).flatMap((dag) => Object.values(dag.backfills ?? {}))
  }
}
