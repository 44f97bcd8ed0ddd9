import {applyChange, type DagRunRecord, type DagState, SCHEMA_VERSION, type StateChange} from './schema.js'
import type {RunRange} from './store.js'

export function isInRange(logicalDate: null | string, range: null | RunRange): boolean {
  return range === null || logicalDate === null || (logicalDate >= range.from && logicalDate <= range.to)
}

export function inRange(runs: Record<string, DagRunRecord>, range: null | RunRange): Record<string, DagRunRecord> {
  if (range === null) return runs
  return Object.fromEntries(Object.entries(runs).filter(([, run]) => isInRange(run.logical_date, range)))
}

/**
 * The runs a store's writer read or recorded of its DAG. What it recorded is newer than anything stored, and the
 * runs it covers are claimed, so nobody else changes them: a range it read once it holds from then on.
 */
export class WriterRuns {
  readonly state: DagState = {runs: {}}
  /** Run ids recorded since the last `takeTouched()`. */
  private touched = new Set<string>()
  private readonly ranges: Array<null | RunRange> = []

  constructor(private readonly dagId: string) {}

  /** The writer's runs of `range` when it already read that range, else undefined. */
  cached(range: null | RunRange): DagState | undefined {
    const covered = this.ranges.some((read) => read === null || (range !== null && read.from <= range.from && read.to >= range.to))
    return covered ? {runs: inRange(this.state.runs, range)} : undefined
  }

  /** Takes in the stored runs of `range` (what the writer holds wins) and returns its view of them. */
  merge(stored: Record<string, DagRunRecord>, range: null | RunRange): DagState {
    for (const [runId, run] of Object.entries(stored)) this.state.runs[runId] ??= run
    this.ranges.push(range)
    return {runs: inRange(this.state.runs, range)}
  }

  /** Applies a change to a run of the writer's DAG. */
  apply(change: Exclude<StateChange, {type: 'backfill'}>): void {
    applyChange({dags: {[this.dagId]: this.state}, schema_version: SCHEMA_VERSION}, change)
    this.touched.add(change.type === 'run' ? change.run.run_id : change.run_id)
  }

  /** The runs recorded since the last call, as they stand now. */
  takeTouched(): DagRunRecord[] {
    const runs = [...this.touched].flatMap((runId) => this.state.runs[runId] ?? [])
    this.touched = new Set()
    return runs
  }

  /** Marks runs as still to be written, after a write that failed. */
  touchAgain(runs: readonly DagRunRecord[]): void {
    for (const run of runs) this.touched.add(run.run_id)
  }
}
