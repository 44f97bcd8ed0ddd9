import {EmbeddedStore} from './embedded/embedded-store.js'
import type {StateStore, StoreOptions} from './store.js'

/** The store `--db` names: today always the embedded store at that path. */
export function openStore(db: string, options: StoreOptions): Promise<StateStore> {
  return EmbeddedStore.open(db, options)
}
