import type {DagState, StateChange} from './schema.js'

/**
 * The state of every DAG. Changes are plain data: `record()` applies them in memory and makes them durable (a
 * journal line for the file store) by the end of the current turn of the event loop; `flush()` folds them into
 * the state file.
 */
export interface StateStore {
  /** Folds recorded changes into the state file and stops background flushing. */
  close(): Promise<void>
  /** Folds recorded changes into the state file now. */
  flush(): Promise<void>
  /** The runs of one DAG as last recorded, shared with the store: callers read it and never change it. */
  readDag(dagId: string): Promise<DagState>
  /** Every DAG id with recorded runs. */
  readDagIds(): Promise<string[]>
  /** Applies changes in memory and makes them durable by the end of this turn of the event loop. */
  record(changes: readonly StateChange[]): void
}
