import {applyChange, type DagState, SCHEMA_VERSION, type StateChange, type StateFile} from './schema.js'
import type {StateStore} from './store.js'

/** A store that lives in memory, for unit tests. */
export class MemoryStore implements StateStore {
  readonly file: StateFile

  constructor(initial: StateFile = {dags: {}, schema_version: SCHEMA_VERSION}) {
    this.file = structuredClone(initial)
  }

  async close(): Promise<void> {}

  async flush(): Promise<void> {}

  async readDag(dagId: string): Promise<DagState> {
    return structuredClone(this.file.dags[dagId] ?? {runs: {}})
  }

  async readDagIds(): Promise<string[]> {
    return Object.keys(this.file.dags)
  }

  record(changes: readonly StateChange[]): void {
    for (const change of changes) applyChange(this.file, structuredClone(change))
  }
}
