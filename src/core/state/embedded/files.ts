import {readdirSync} from 'node:fs'
import {basename, dirname, join} from 'node:path'

/**
 * Every name the embedded store uses, derived from the catalog's path (`--db`, default `.updraft/db.json`), so
 * two stores in one folder share no file and copying the folder copies the state.
 *
 * - `db.json`: the catalog (schema version, DAG settings, backfill records, per-DAG summaries);
 * - `db.json.runs/<dag>/<period>.json`: a DAG's runs in shards by period (see `periodOf`);
 * - `db.json.backfills/<id>.json`: the run ids of a backfill record, which the catalog lists without them;
 * - `db.json.<dag>.journal-<pid>` (and `.flushing` while folded in): what a writer recorded since its last flush;
 * - `db.json.<dag>.claim-<pid>-<n>`: runs a live backfill owns; `db.json.<dag>.claims.lock` guards claiming;
 * - `db.json.lock`, `db.json.<dag>.lock`: write locks of the catalog and of a DAG's shards;
 * - `db.json.backfill-<id>.cancel`, `.pause`: a cancel request, a pause request; `db.json.v<N>.backup`: the file before an upgrade;
 * - `db.json.pools/ledger.json` (and its `.lock`): pools and the slots processes hold and wait for.
 */
export class StoreFiles {
  readonly directory: string
  private readonly base: string

  constructor(readonly catalog: string) {
    this.directory = dirname(catalog)
    this.base = basename(catalog)
  }

  get catalogLock(): string {
    return `${this.catalog}.lock`
  }

  get shardsRoot(): string {
    return `${this.catalog}.runs`
  }

  get poolLedger(): string {
    return join(`${this.catalog}.pools`, 'ledger.json')
  }

  get poolLedgerLock(): string {
    return `${this.poolLedger}.lock`
  }

  runIdsOf(backfillId: number): string {
    return join(`${this.catalog}.backfills`, `${backfillId}.json`)
  }

  backupOf(schemaVersion: number): string {
    return `${this.catalog}.v${schemaVersion}.backup`
  }

  cancelOf(backfillId: number): string {
    return `${this.catalog}.backfill-${backfillId}.cancel`
  }

  pauseOf(backfillId: number): string {
    return `${this.catalog}.backfill-${backfillId}.pause`
  }

  shardsOf(dagId: string): string {
    return join(this.shardsRoot, encodeURIComponent(dagId))
  }

  shard(dagId: string, period: string): string {
    return join(this.shardsOf(dagId), `${period}.json`)
  }

  /** The periods a DAG has shards for. */
  periodsOf(dagId: string): string[] {
    return namesIn(this.shardsOf(dagId)).flatMap((name) => (name.endsWith('.json') && !name.startsWith('.') ? [name.slice(0, -'.json'.length)] : []))
  }

  /** Every DAG with a folder of shards. */
  shardedDagIds(): string[] {
    return namesIn(this.shardsRoot).map((name) => decodeURIComponent(name))
  }

  dagLock(dagId: string): string {
    return `${this.prefixOf(dagId)}lock`
  }

  claimsLock(dagId: string): string {
    return `${this.prefixOf(dagId)}claims.lock`
  }

  claim(dagId: string, pid: number, sequence: number): string {
    return `${this.prefixOf(dagId)}claim-${pid}-${sequence}`
  }

  /** Claim files of `dagId` with the pid that wrote each. */
  claimsOf(dagId: string): Array<{path: string; pid: number}> {
    const prefix = basename(this.prefixOf(dagId))
    return namesIn(this.directory).flatMap((name) => {
      if (!name.startsWith(`${prefix}claim-`)) return []
      const pid = /^claim-(\d+)-\d+$/.exec(name.slice(prefix.length))?.[1]
      return pid === undefined ? [] : [{path: join(this.directory, name), pid: Number(pid)}]
    })
  }

  journal(dagId: string, pid: number): string {
    return `${this.prefixOf(dagId)}journal-${pid}`
  }

  /**
   * Journals with their DAG and writer, rotated ones (older changes) before live ones; a journal of an older
   * release names no writer (its process is long gone). Only `dagId`'s when given.
   */
  journals(dagId?: string): Array<{dagId: string; path: string; pid: null | number}> {
    const prefix = `${this.base}.`
    return namesIn(this.directory)
      .flatMap((name) => {
        if (!name.startsWith(prefix)) return []
        const match = /^(.+)\.journal(?:-(\d+))?(\.flushing)?$/.exec(name.slice(prefix.length))
        if (!match) return []
        const owner = decodeURIComponent(match[1] as string)
        if (dagId !== undefined && owner !== dagId) return []
        return [{dagId: owner, flushing: match[3] !== undefined, path: join(this.directory, name), pid: match[2] === undefined ? null : Number(match[2])}]
      })
      .sort((a, b) => Number(b.flushing) - Number(a.flushing) || a.path.localeCompare(b.path))
      .map(({flushing: _flushing, ...journal}) => journal)
  }

  /** The files whose change means something recorded changed: the catalog, the journals and each DAG's shards folder. */
  watched(): string[] {
    return [this.catalog, ...this.journals().map((journal) => journal.path), ...namesIn(this.shardsRoot).map((name) => join(this.shardsRoot, name))]
  }

  private prefixOf(dagId: string): string {
    return `${this.catalog}.${encodeURIComponent(dagId)}.`
  }
}

function namesIn(directory: string): string[] {
  try {
    return readdirSync(directory)
  } catch {
    return []
  }
}
