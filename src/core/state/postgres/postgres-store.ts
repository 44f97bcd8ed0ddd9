import {isDeepStrictEqual} from 'node:util'

import pg from 'pg'

import {UpdraftError} from '../../errors.js'
import {logTail, readLocalLog} from '../local-log.js'
import type {BackfillRecord, DagRunRecord, DagSettings, DagState, StateChange, TaskInstanceRecord} from '../schema.js'
import {type Catalog, type ClaimedRun, type ClaimResult, type DagSummary, type ListedBackfill, listedBackfillOf, type RunClaim, type RunRange, type StateStore, type StoreOptions, wholeBackfillOf} from '../store.js'
import {describeStore} from '../open-store.js'
import {WriterRuns} from '../writer-runs.js'
import {MIGRATIONS} from './migrations.js'
import {type LedgerAccess, LedgerPools, type PoolLedger, type PoolStore} from '../pools.js'

/** A claim lapses this long after its owner last renewed it: a coordinator on another machine that died. */
const LEASE_SECONDS = 30
const LEASE_RENEW_MS = 10_000
/** An unreachable server is reported within 5 s of the command starting. */
const CONNECT_TIMEOUT_MS = 4000
const QUERY_TIMEOUT_MS = 20_000
/** How much of a try's log the database keeps: its end, where the error is. */
const LOG_TAIL_BYTES = 1024 * 1024
/** Serialises migrations and ownership changes between coordinators: `pg_advisory_xact_lock(LOCK_SPACE, n)`. */
const LOCK_SPACE = 0x75_70_64
const MIGRATION_LOCK = 1
const BACKFILL_ID_LOCK = 2
/** Ends every statement that changes state: a new change number, and a notice to listeners once it commits. */
const CHANGED = "SELECT nextval('updraft_changes'), pg_notify('updraft_changes', '')"

function unreachable(url: string, error: unknown): UpdraftError {
  const reason = (error as Error)?.message?.replaceAll(/postgres(?:ql)?:\/\/\S+/g, '(url)') ?? String(error)
  return new UpdraftError('STATE_DB_UNREACHABLE', `Expected a reachable ${describeStore(url)} for the state, got ${reason}.`, {
    suggestions: ['Check --db / UPDRAFT_DB (postgresql://user:password@host:5432/database) and that the server is running.'],
  })
}

/** One pool per database per process, shared by every store opened on it; idle connections never hold the process open. */
const pools = new Map<string, Promise<pg.Pool>>()

function poolFor(url: string): Promise<pg.Pool> {
  let pool = pools.get(url)
  if (!pool) {
    pool = connect(url)
    pools.set(url, pool)
    pool.catch(() => pools.delete(url))
  }

  return pool
}

async function connect(url: string): Promise<pg.Pool> {
  let pool: pg.Pool
  try {
    pool = new pg.Pool({allowExitOnIdle: true, connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, max: 4, query_timeout: QUERY_TIMEOUT_MS})
  } catch (error) {
    throw unreachable(url, error)
  }

  // A connection lost while idle surfaces on the next query, which says so; here it must not end the process.
  pool.on('error', () => {})
  try {
    await migrate(pool)
  } catch (error) {
    await pool.end().catch(() => {})
    if (error instanceof UpdraftError) throw error
    throw unreachable(url, error)
  }

  return pool
}

/** Applies the migrations this release knows that the database has not had; refuses a database from a newer one. */
async function migrate(pool: pg.Pool): Promise<void> {
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_SPACE, MIGRATION_LOCK])
    await client.query('CREATE TABLE IF NOT EXISTS updraft_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())')
    const applied = Number((await client.query<{version: null | number}>('SELECT max(version) AS version FROM updraft_migrations')).rows[0]?.version ?? 0)
    if (applied > MIGRATIONS.length) {
      throw new UpdraftError('STATE_SCHEMA_TOO_NEW', `Expected state migrations up to ${MIGRATIONS.length} in the database, got ${applied}; upgrade updraft to use it. It was left untouched.`)
    }

    for (const [index, sql] of MIGRATIONS.entries()) {
      if (index + 1 <= applied) continue
      await client.query(sql)
      await client.query('INSERT INTO updraft_migrations (version) VALUES ($1)', [index + 1])
    }

    await client.query('COMMIT')
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {})
    throw error
  } finally {
    client.release()
  }
}

/** A claim key as a text column holds it: keys separate date and partition with NUL, which PostgreSQL text refuses. */
function storedKey(key: string): string {
  return JSON.stringify(key)
}

interface StoredRun {
  dag_id: string
  logical_date: null | string
  run: DagRunRecord
  run_id: string
  scheduled: boolean
  start_date: null | string
}

/**
 * The PostgreSQL store (README "Sharing state: PostgreSQL"): every coordinator, scheduler and web server that names one database shares one
 * state. A writer applies its changes in memory and sends them at the end of the turn they were recorded in, one
 * statement for all of them (each changed run whole), so there is no round trip per change; a change is durable
 * once that statement commits. Ownership, ids and settings change in transactions.
 */
export class PostgresStore implements StateStore {
  readonly pools: PoolStore
  private readonly own: null | WriterRuns
  private readonly touchedRecords = new Map<number, BackfillRecord>()
  private readonly logs = new Map<string, string>()
  private readonly capturedLogs = new Set<string>()
  private readonly capturing = new Set<Promise<void>>()
  private recorded = 0
  private durable = 0
  private writing: null | Promise<void> = null
  private writeQueued = false
  private waiters: Array<{callback: () => void; generation: number}> = []
  private failure: null | UpdraftError = null
  private readonly owners = new Set<string>()
  private leaseTimer: NodeJS.Timeout | undefined
  private listener: null | {client: pg.Client; notices: number; ready: boolean} = null
  private static claimsMade = 0

  private constructor(
    private readonly url: string,
    private readonly pool: pg.Pool,
    private readonly options: StoreOptions,
  ) {
    this.own = options.writer === null ? null : new WriterRuns(options.writer)
    this.pools = new LedgerPools(this.ledgerAccess(), options.process, LEASE_SECONDS * 1000)
  }

  /** The database's clock decides leases, so owners on machines whose clocks differ still agree on who is alive. */
  private ledgerAccess(): LedgerAccess {
    const select = 'SELECT ledger, (extract(epoch from clock_timestamp()) * 1000)::float8 AS now FROM updraft_pool_ledger WHERE id = 1'
    return {
      read: async () => {
        const row = (await this.query<{ledger: PoolLedger; now: number}>(select)).rows[0] as {ledger: PoolLedger; now: number}
        return {ledger: row.ledger, now: row.now}
      },
      update: async (change) =>
        this.transaction(async (client) => {
          const row = (await client.query<{ledger: PoolLedger; now: number}>(`${select} FOR UPDATE`)).rows[0] as {ledger: PoolLedger; now: number}
          const {ledger, result} = change(row.ledger, row.now)
          // A waiting owner's poll usually changes nothing but its lease, which is renewed only when it runs short.
          if (!isDeepStrictEqual(ledger, row.ledger)) await client.query('UPDATE updraft_pool_ledger SET ledger = $1 WHERE id = 1', [JSON.stringify(ledger)])
          return result
        }),
    }
  }

  static async open(url: string, options: StoreOptions): Promise<PostgresStore> {
    return new PostgresStore(url, await poolFor(url), options)
  }

  async claimRuns(dagId: string, runs: readonly ClaimedRun[]): Promise<ClaimResult> {
    const {host, pid} = this.options.process
    const owner = `${host}:${pid}:${++PostgresStore.claimsMade}`
    const since = this.options.clock().toISOString()
    const taken = await this.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_SPACE, `claims:${dagId}`])
      await this.dropDeadClaims(client, dagId)
      const clash = await client.query<{key: string; owner: string; pid: number; since: string}>('SELECT key, owner, pid, since FROM updraft_claims WHERE dag_id = $1 AND key = ANY($2) LIMIT 1', [dagId, runs.map((run) => storedKey(run.key))])
      const first = clash.rows[0]
      if (first) {
        const held = await client.query<{key: string; run_id: string}>('SELECT key, run_id FROM updraft_claims WHERE owner = $1', [first.owner])
        const run = runs.find((candidate) => storedKey(candidate.key) === first.key) as ClaimedRun
        return {owner: {pid: first.pid, runs: held.rows.map((row) => ({key: JSON.parse(row.key) as string, run_id: row.run_id})), since: first.since}, run}
      }

      await client.query(
        `INSERT INTO updraft_claims (dag_id, key, run_id, owner, pid, host, since, lease_until)
         SELECT $1, key, run_id, $4, $5, $6, $7, now() + make_interval(secs => $8) FROM unnest($2::text[], $3::text[]) AS claimed(key, run_id)`,
        [dagId, runs.map((run) => storedKey(run.key)), runs.map((run) => run.run_id), owner, pid, host, since, LEASE_SECONDS],
      )
      return null
    })
    if (taken) return taken
    this.owners.add(owner)
    this.renewLeases()
    return {
      release: async () => {
        this.owners.delete(owner)
        if (this.owners.size === 0) this.stopRenewing()
        await this.pool.query('DELETE FROM updraft_claims WHERE owner = $1', [owner]).catch(() => {
          // The database is gone: the claim lapses with its lease, or at once for a coordinator on this host.
        })
      },
    }
  }

  async liveClaims(dagId: string): Promise<RunClaim[]> {
    const rows = (await this.query<{host: string; key: string; owner: string; pid: number; run_id: string; since: string}>('SELECT owner, host, pid, since, key, run_id FROM updraft_claims WHERE dag_id = $1 AND lease_until > now()', [dagId])).rows
    const claims = new Map<string, RunClaim & {runs: ClaimedRun[]}>()
    for (const row of rows) {
      if (row.host === this.options.process.host && !this.options.process.isAlive(row.pid)) continue
      const claim = claims.get(row.owner) ?? claims.set(row.owner, {pid: row.pid, runs: [], since: row.since}).get(row.owner) as RunClaim & {runs: ClaimedRun[]}
      claim.runs.push({key: JSON.parse(row.key) as string, run_id: row.run_id})
    }

    return [...claims.values()]
  }

  /** A closed store renews no lease: claims it still holds lapse, unless given back first. */
  async close(): Promise<void> {
    this.stopRenewing()
    await this.flush()
    const listening = this.listener?.client
    this.listener = null
    await listening?.end().catch(() => {})
  }

  async requestCancel(backfillId: number, by: string): Promise<void> {
    await this.query('INSERT INTO updraft_cancels (backfill_id, requested_by) VALUES ($1, $2) ON CONFLICT (backfill_id) DO UPDATE SET requested_by = excluded.requested_by', [backfillId, by])
    await this.query(CHANGED)
  }

  async requestPause(backfillId: number, paused: boolean): Promise<void> {
    await this.query(paused ? 'INSERT INTO updraft_pauses (backfill_id) VALUES ($1) ON CONFLICT DO NOTHING' : 'DELETE FROM updraft_pauses WHERE backfill_id = $1', [backfillId])
    await this.query(CHANGED)
  }

  async pauseRequested(backfillId: number): Promise<boolean> {
    return (await this.query('SELECT 1 FROM updraft_pauses WHERE backfill_id = $1', [backfillId])).rows.length > 0
  }

  async updateBackfill(backfillId: number, change: (record: BackfillRecord) => BackfillRecord | null): Promise<BackfillRecord | null> {
    const changed = await this.transaction(async (client) => {
      const row = (await client.query<{record: ListedBackfill; run_ids: string[]}>('SELECT record, run_ids FROM updraft_backfills WHERE id = $1 FOR UPDATE', [backfillId])).rows[0]
      const updated = row ? change(wholeBackfillOf(row.record, row.run_ids)) : null
      if (updated) await client.query('UPDATE updraft_backfills SET record = $2, run_ids = $3 WHERE id = $1', [backfillId, JSON.stringify(listedBackfillOf(updated)), JSON.stringify(updated.run_ids)])
      return updated
    })
    if (changed) await this.query(CHANGED)
    return changed
  }

  async cancelRequestOf(backfillId: number, options: {clear: boolean} = {clear: false}): Promise<null | string> {
    const sql = options.clear ? 'DELETE FROM updraft_cancels WHERE backfill_id = $1 RETURNING requested_by' : 'SELECT requested_by FROM updraft_cancels WHERE backfill_id = $1'
    return (await this.query<{requested_by: string}>(sql, [backfillId])).rows[0]?.requested_by ?? null
  }

  /**
   * Long-lived readers (the web server, the scheduler) ask often: after the first call this is answered from
   * LISTEN/NOTIFY without a round trip. Without a listening connection it asks the database.
   */
  async changeSignature(): Promise<string> {
    if (this.listener?.ready) return `notified:${this.listener.notices}`
    this.listen()
    const row = (await this.query<{is_called: boolean; last_value: string}>('SELECT last_value, is_called FROM updraft_changes')).rows[0]
    return `${row?.last_value}:${row?.is_called}`
  }

  /** A connection of its own that hears every committed change; when it is lost, the next call opens another. */
  private listen(): void {
    if (this.listener) return
    const client = new pg.Client({connectionString: this.url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS})
    const listener = {client, notices: 0, ready: false}
    this.listener = listener
    const drop = () => {
      if (this.listener === listener) this.listener = null
      client.end().catch(() => {})
    }

    client.on('error', drop)
    client.on('end', drop)
    client.on('notification', () => {
      listener.notices += 1
    })
    client
      .connect()
      .then(() => client.query('LISTEN updraft_changes'))
      .then(() => {
        listener.ready = true
      })
      .catch(drop)
  }

  /** The next id is one more than the last, as in the embedded store, taken and written under one lock. */
  async createBackfill(make: (id: number) => BackfillRecord): Promise<BackfillRecord> {
    const record = await this.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_SPACE, BACKFILL_ID_LOCK])
      const last = Number((await client.query<{id: null | string}>('SELECT max(id) AS id FROM updraft_backfills')).rows[0]?.id ?? 0)
      const created = make(last + 1)
      await client.query('INSERT INTO updraft_backfills (id, dag_id, record, run_ids) VALUES ($1, $2, $3, $4)', [created.id, created.dag_id, JSON.stringify(listedBackfillOf(created)), JSON.stringify(created.run_ids)])
      return created
    })
    this.record([{backfill: record, dag_id: record.dag_id, type: 'backfill'}])
    return record
  }

  async flush(): Promise<void> {
    await Promise.all(this.capturing)
    while (this.durable < this.recorded && !this.failure) {
      this.startWrite()
      await this.writing?.catch(() => {})
    }

    if (this.failure) throw this.failure
  }

  async readLog(path: string): Promise<null | string> {
    return (await readLocalLog(path)) ?? (await this.query<{text: string}>('SELECT text FROM updraft_logs WHERE path = $1', [path])).rows[0]?.text ?? null
  }

  async readBackfillRunIds(backfillId: number): Promise<string[]> {
    const touched = this.touchedRecords.get(backfillId)
    if (touched) return touched.run_ids
    return (await this.query<{run_ids: string[]}>('SELECT run_ids FROM updraft_backfills WHERE id = $1', [backfillId])).rows[0]?.run_ids ?? []
  }

  async readCatalog(): Promise<Catalog> {
    const [records, settings, summaries] = await Promise.all([
      this.query<{record: ListedBackfill}>('SELECT record FROM updraft_backfills ORDER BY id'),
      this.query<{dag_id: string; settings: DagSettings}>('SELECT dag_id, settings FROM updraft_dag_settings'),
      this.query<{dag_id: string; last_run: DagSummary['last_run']; scheduled_date: null | string; scheduled_state: null | string}>(
        `SELECT d.dag_id, last_run.summary AS last_run, scheduled.logical_date AS scheduled_date, scheduled.state AS scheduled_state
         FROM updraft_dags d
         LEFT JOIN LATERAL (
           SELECT json_build_object('logical_date', r.logical_date, 'partition_key', r.run->'partition_key', 'run_id', r.run_id, 'start_date', r.start_date, 'state', r.run->'state') AS summary
           FROM updraft_runs r WHERE r.dag_id = d.dag_id AND r.start_date IS NOT NULL ORDER BY r.start_date DESC LIMIT 1
         ) last_run ON true
         LEFT JOIN LATERAL (
           SELECT r.logical_date, r.run->>'state' AS state
           FROM updraft_runs r WHERE r.dag_id = d.dag_id AND r.scheduled AND r.logical_date IS NOT NULL ORDER BY r.logical_date DESC LIMIT 1
         ) scheduled ON true`,
      ),
    ])
    const backfills = new Map(records.rows.map((row) => [row.record.id, row.record]))
    for (const record of this.touchedRecords.values()) backfills.set(record.id, listedBackfillOf(record))
    return {
      backfills: [...backfills.values()],
      settings: Object.fromEntries(settings.rows.map((row) => [row.dag_id, row.settings])),
      summaries: Object.fromEntries(
        summaries.rows.map((row) => [
          row.dag_id,
          {
            last_run: row.last_run,
            last_scheduled: row.scheduled_date === null ? null : {finished: row.scheduled_state === 'success' || row.scheduled_state === 'failed', logical_date: row.scheduled_date},
          },
        ]),
      ),
    }
  }

  async readDagIds(): Promise<string[]> {
    return (await this.query<{dag_id: string}>('SELECT dag_id FROM updraft_dags ORDER BY dag_id')).rows.map((row) => row.dag_id)
  }

  async readRuns(dagId: string, range: null | RunRange = null): Promise<DagState> {
    const own = dagId === this.options.writer ? this.own : null
    const cached = own?.cached(range)
    if (cached) return cached
    const rows = range === null
      ? await this.query<{run: DagRunRecord}>('SELECT run FROM updraft_runs WHERE dag_id = $1', [dagId])
      : await this.query<{run: DagRunRecord}>('SELECT run FROM updraft_runs WHERE dag_id = $1 AND (logical_date IS NULL OR logical_date BETWEEN $2 AND $3)', [dagId, range.from, range.to])
    const runs: Record<string, DagRunRecord> = {}
    for (const {run} of rows.rows) runs[run.run_id] = run
    return own ? own.merge(runs, range) : {runs}
  }

  record(changes: readonly StateChange[]): void {
    if (this.failure || changes.length === 0) return
    for (const change of changes) {
      if (change.dag_id !== this.options.writer) continue
      if (change.type === 'backfill') this.touchedRecords.set(change.backfill.id, change.backfill)
      else this.own?.apply(change)
      if (change.type === 'task_instance') this.captureLog(change.ti)
      this.recorded += 1
    }

    this.queueWrite()
  }

  /** Keeps the tail of a try's log once the try is over, for readers on other machines. */
  private captureLog(ti: TaskInstanceRecord): void {
    const path = ti.log_path
    if (path === null || ti.state === 'running' || ti.state === 'queued' || this.capturedLogs.has(path)) return
    this.capturedLogs.add(path)
    const capture = logTail(path, LOG_TAIL_BYTES).then((text) => {
      this.capturing.delete(capture)
      if (text === null || this.failure) return
      this.logs.set(path, text)
      this.recorded += 1
      this.queueWrite()
    })
    this.capturing.add(capture)
  }

  private queueWrite(): void {
    if (this.writeQueued) return
    this.writeQueued = true
    setImmediate(() => {
      this.writeQueued = false
      this.startWrite()
    })
  }

  async updateDagSettings(update: (settings: Record<string, DagSettings>) => void): Promise<Record<string, DagSettings>> {
    return this.transaction(async (client) => {
      await client.query('LOCK TABLE updraft_dag_settings IN SHARE ROW EXCLUSIVE MODE')
      const settings: Record<string, DagSettings> = Object.fromEntries((await client.query<{dag_id: string; settings: DagSettings}>('SELECT dag_id, settings FROM updraft_dag_settings')).rows.map((row) => [row.dag_id, row.settings]))
      update(settings)
      await client.query(
        `INSERT INTO updraft_dag_settings (dag_id, settings) SELECT key, value FROM json_each($1::json)
         ON CONFLICT (dag_id) DO UPDATE SET settings = excluded.settings`,
        [JSON.stringify(settings)],
      )
      await client.query(CHANGED)
      return settings
    })
  }

  whenDurable(callback: () => void): void {
    if (this.failure) return
    if (this.durable >= this.recorded) callback()
    else this.waiters.push({callback, generation: this.recorded})
  }

  writeJournal(): void {
    this.startWrite()
  }

  /**
   * Sends what was recorded since the last write, one write at a time so they commit in order: the runs changed
   * (whole), the records changed, and the DAG, in one statement.
   */
  private startWrite(): void {
    if (this.writing || this.failure || this.durable >= this.recorded) return
    const generation = this.recorded
    const runs = this.own?.takeTouched() ?? []
    const records = [...this.touchedRecords.values()]
    const stored: StoredRun[] = runs.map((run) => ({dag_id: this.options.writer as string, logical_date: run.logical_date, run, run_id: run.run_id, scheduled: run.run_id.startsWith('scheduled__'), start_date: run.start_date}))
    const rows = records.map((record) => ({dag_id: record.dag_id, id: record.id, record: listedBackfillOf(record), run_ids: record.run_ids}))
    const logs = [...this.logs].map(([path, text]) => ({path, text}))
    this.logs.clear()
    this.writing = this.query(
      `WITH input AS (
         SELECT * FROM json_to_recordset($1::json) AS x(dag_id text, run_id text, logical_date text, start_date text, scheduled boolean, run json)
       ), runs AS (
         INSERT INTO updraft_runs (dag_id, run_id, logical_date, start_date, scheduled, run) SELECT dag_id, run_id, logical_date, start_date, scheduled, run FROM input
         ON CONFLICT (dag_id, run_id) DO UPDATE SET logical_date = excluded.logical_date, start_date = excluded.start_date, scheduled = excluded.scheduled, run = excluded.run
       ), records AS (
         INSERT INTO updraft_backfills (id, dag_id, record, run_ids) SELECT id, dag_id, record, run_ids FROM json_to_recordset($2::json) AS y(id bigint, dag_id text, record json, run_ids json)
         ON CONFLICT (id) DO UPDATE SET record = excluded.record, run_ids = excluded.run_ids
       ), dags AS (
         INSERT INTO updraft_dags (dag_id) SELECT DISTINCT dag_id FROM input ON CONFLICT DO NOTHING
       ), logs AS (
         INSERT INTO updraft_logs (path, text) SELECT path, text FROM json_to_recordset($3::json) AS z(path text, text text)
         ON CONFLICT (path) DO UPDATE SET text = excluded.text
       )
       ${CHANGED}`,
      [JSON.stringify(stored), JSON.stringify(rows), JSON.stringify(logs)],
    ).then(
      () => {
        for (const record of records) if (this.touchedRecords.get(record.id) === record) this.touchedRecords.delete(record.id)
        this.durable = Math.max(this.durable, generation)
        this.writing = null
        const ready = this.waiters.filter((waiter) => waiter.generation <= this.durable)
        this.waiters = this.waiters.filter((waiter) => waiter.generation > this.durable)
        for (const waiter of ready) waiter.callback()
        if (this.durable < this.recorded) this.startWrite()
      },
      (error: unknown) => {
        this.writing = null
        this.own?.touchAgain(runs)
        for (const {path, text} of logs) if (!this.logs.has(path)) this.logs.set(path, text)
        this.fail(error instanceof UpdraftError ? error : unreachable(this.url, error))
        throw this.failure
      },
    )
    this.writing.catch(() => {})
  }

  private fail(error: UpdraftError): void {
    if (this.failure) return
    this.failure = error
    this.waiters = []
    this.options.onFailure?.(error)
  }

  /** Keeps this process's claims alive while it runs; a coordinator that dies stops renewing them. */
  private renewLeases(): void {
    if (this.leaseTimer) return
    this.leaseTimer = setInterval(() => {
      if (this.owners.size === 0) return
      this.pool.query('UPDATE updraft_claims SET lease_until = now() + make_interval(secs => $2) WHERE owner = ANY($1)', [[...this.owners], LEASE_SECONDS]).catch(() => {})
    }, LEASE_RENEW_MS)
    this.leaseTimer.unref()
  }

  private stopRenewing(): void {
    clearInterval(this.leaseTimer)
    this.leaseTimer = undefined
  }

  /** Claims whose lease lapsed, and those of processes on this host that are gone, own nothing. */
  private async dropDeadClaims(client: pg.PoolClient, dagId: string): Promise<void> {
    await client.query('DELETE FROM updraft_claims WHERE dag_id = $1 AND lease_until <= now()', [dagId])
    const local = await client.query<{owner: string; pid: number}>('SELECT DISTINCT owner, pid FROM updraft_claims WHERE dag_id = $1 AND host = $2', [dagId, this.options.process.host])
    const dead = local.rows.filter((row) => !this.options.process.isAlive(row.pid)).map((row) => row.owner)
    if (dead.length > 0) await client.query('DELETE FROM updraft_claims WHERE owner = ANY($1)', [dead])
  }

  /**
   * A query that fails because the database is gone also fails a writer, even when nothing was being written
   * (a backfill whose tasks run for an hour only polls for a cancel): its backfill stops as on Ctrl-C.
   */
  private async query<Row extends pg.QueryResultRow>(sql: string, values?: unknown[]): Promise<pg.QueryResult<Row>> {
    try {
      return await this.pool.query<Row>(sql, values)
    } catch (error) {
      const failure = error instanceof UpdraftError ? error : unreachable(this.url, error)
      if (this.options.writer !== null && failure.code === 'STATE_DB_UNREACHABLE' && !(error instanceof pg.DatabaseError)) this.fail(failure)
      throw failure
    }
  }

  private async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient
    try {
      client = await this.pool.connect()
    } catch (error) {
      throw unreachable(this.url, error)
    }

    try {
      await client.query('BEGIN')
      const result = await work(client)
      await client.query('COMMIT')
      return result
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {})
      throw error instanceof UpdraftError ? error : unreachable(this.url, error)
    } finally {
      client.release()
    }
  }
}
