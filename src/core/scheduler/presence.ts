import type {StateStore} from '../state/store.js'

/**
 * A running scheduler says so in the store's shared ledger (as an owner holding nothing), so that whoever queues
 * a request can tell whether anything will take it: an owner is alive while its pid is (on one machine) or its
 * lease is renewed (PostgreSQL), and every pass renews it.
 */
const SCHEDULER_OWNER = 'scheduler:'

export function schedulerOwnerId(process: {host: string; pid: number}): string {
  return `${SCHEDULER_OWNER}${process.host}:${process.pid}`
}

export async function announceScheduler(store: StateStore, ownerId: string): Promise<void> {
  await store.pools.exchange(ownerId, {held: {}, waiting: []})
}

export async function withdrawScheduler(store: StateStore, ownerId: string): Promise<void> {
  await store.pools.exchange(ownerId, null)
}

/** How many schedulers run on this store now. */
export async function runningSchedulers(store: StateStore): Promise<number> {
  return (await store.pools.liveOwners()).filter((id) => id.startsWith(SCHEDULER_OWNER)).length
}
