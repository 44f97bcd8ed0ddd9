import type {Timers, TimerHandle} from '../clock.js'
import {type HeldSlots, outranks, type PoolStore, type PoolWaiter, type SlotExchange} from '../state/pools.js'

/** While something waits, the ledger is asked this often: a slot freed by another process is found within it. */
const WAITING_POLL_MS = 50
/** While only holding, this often: freed slots go back, running and queued counts stay current, leases renew. */
const HOLDING_POLL_MS = 500

/** Why a task instance waits: its pool, how many slots are held in it and its size. */
export interface PoolWait {
  pool: string
  slots: number
  used: number
}

export interface PoolGateOptions {
  ownerId: string
  /** The ledger failed (a store that cannot be written): the backfill stops as on a state write failure. */
  onError: (error: unknown) => void
  onGranted: (key: string) => void
  /** The pool went away or shrank below what the task instance needs: it fails with reason `pool`. */
  onRejected: (key: string, message: string) => void
  onWaiting: (key: string, wait: PoolWait) => void
  pools: PoolStore
  timers: Timers
}

/**
 * One apply loop's door to the pools (§17). A task instance asks for its slots and starts when granted; it gives
 * them back when its try ends. Granting goes through the store's ledger, so every process sharing the store is
 * served in one order; a slot freed here goes straight to a waiter of this loop only while no other process
 * waits in that pool, which keeps a long backfill of quick tasks from asking the store for every one of them.
 */
export class PoolGate {
  private readonly waiting = new Map<string, PoolWaiter>()
  private readonly holding = new Map<string, {pool: string; running: boolean; slots: number}>()
  /** Slots freed here and not yet given back, per pool. */
  private readonly idle = new Map<string, number>()
  private contested = new Set<string>()
  private readonly shownWaits = new Map<string, number>()
  private exchanging: null | Promise<void> = null
  private exchangeQueued = false
  private registered = false
  private closed = false
  private poll: null | TimerHandle = null

  constructor(private readonly options: PoolGateOptions) {}

  /** Asks for a ready task instance's slots; `onGranted` says when it has them (perhaps at once). */
  request(waiter: PoolWaiter): void {
    this.waiting.set(waiter.key, waiter)
    if (!this.serveLocally(waiter.pool)) this.exchangeSoon()
  }

  running(key: string): void {
    const held = this.holding.get(key)
    if (held) held.running = true
  }

  /** The task instance's try ended, or it stopped waiting: its slots are free again. */
  release(key: string): void {
    if (this.waiting.delete(key)) {
      this.shownWaits.delete(key)
      this.exchangeSoon()
      return
    }

    const held = this.holding.get(key)
    if (!held) return
    this.holding.delete(key)
    this.idle.set(held.pool, (this.idle.get(held.pool) ?? 0) + held.slots)
    if (this.contested.has(held.pool)) this.exchangeSoon()
    else this.serveLocally(held.pool)
  }

  /** Gives every slot back and leaves the ledger. */
  async close(): Promise<void> {
    this.closed = true
    this.stopPolling()
    await this.exchanging?.catch(() => {})
    if (!this.registered) return
    this.registered = false
    await this.options.pools.exchange(this.options.ownerId, null).catch(() => {
      // A store that cannot be reached frees the slots with the owner's lease, or at once once its pid is gone.
    })
  }

  /** Idle slots go to this loop's best waiters of `pool` that fit; whether any was served. */
  private serveLocally(pool: string): boolean {
    if (this.contested.has(pool)) return false
    let served = false
    for (;;) {
      let best: PoolWaiter | undefined
      for (const waiter of this.waiting.values()) if (waiter.pool === pool && (best === undefined || outranks(waiter, best))) best = waiter
      const idle = this.idle.get(pool) ?? 0
      if (best === undefined || best.slots > idle) return served
      this.idle.set(pool, idle - best.slots)
      this.grant(best.key, best)
      served = true
    }
  }

  private grant(key: string, waiter: PoolWaiter): void {
    this.waiting.delete(key)
    this.shownWaits.delete(key)
    this.holding.set(key, {pool: waiter.pool, running: false, slots: waiter.slots})
    this.options.onGranted(key)
  }

  /** One exchange at a time; what changes meanwhile goes into the next, at the end of this turn at the earliest. */
  private exchangeSoon(): void {
    if (this.closed) return
    if (this.exchanging) {
      this.exchangeQueued = true
      return
    }

    this.stopPolling()
    this.exchanging = Promise.resolve()
      .then(() => this.exchange())
      .catch((error: unknown) => this.options.onError(error))
      .finally(() => {
        this.exchanging = null
        if (this.exchangeQueued) {
          this.exchangeQueued = false
          this.exchangeSoon()
        } else {
          this.pollLater()
        }
      })
  }

  private async exchange(): Promise<void> {
    if (this.closed) return
    const held: Record<string, HeldSlots> = {}
    for (const {pool, running, slots} of this.holding.values()) {
      const counts = (held[pool] ??= {idle: 0, queued: 0, running: 0})
      if (running) counts.running += slots
      else counts.queued += slots
    }

    // Idle slots go back at every exchange: what this loop needs next it asks for again, in turn.
    this.idle.clear()
    const waiting = [...this.waiting.values()]
    if (waiting.length === 0 && this.holding.size === 0 && !this.registered) return
    const sent = new Map(waiting.map((waiter) => [waiter.key, waiter]))
    const result = await this.options.pools.exchange(this.options.ownerId, waiting.length === 0 && this.holding.size === 0 ? null : {held, waiting})
    this.registered = waiting.length > 0 || this.holding.size > 0
    this.settle(result, sent)
  }

  private settle(result: SlotExchange, sent: ReadonlyMap<string, PoolWaiter>): void {
    this.contested = new Set(result.contested)
    for (const key of result.granted) {
      const waiter = sent.get(key) as PoolWaiter
      // Stopped waiting while the exchange was under way: the slots it was given are free again.
      if (this.waiting.has(key)) this.grant(key, waiter)
      else this.idle.set(waiter.pool, (this.idle.get(waiter.pool) ?? 0) + waiter.slots)
    }

    for (const {key, message} of result.rejected) {
      if (!this.waiting.delete(key)) continue
      this.shownWaits.delete(key)
      this.options.onRejected(key, message)
    }

    for (const [key, waiter] of this.waiting) {
      const usage = result.usage[waiter.pool]
      if (!usage || this.shownWaits.get(key) === usage.used) continue
      this.shownWaits.set(key, usage.used)
      this.options.onWaiting(key, {pool: waiter.pool, slots: usage.slots, used: usage.used})
    }

    for (const pool of this.idle.keys()) this.serveLocally(pool)
  }

  private pollLater(): void {
    if (this.closed || this.poll) return
    const idle = [...this.idle.values()].some((slots) => slots > 0)
    if (this.waiting.size === 0 && this.holding.size === 0 && !idle && !this.registered) return
    this.poll = this.options.timers.setTimeout(
      () => {
        this.poll = null
        this.exchangeSoon()
      },
      this.waiting.size > 0 ? WAITING_POLL_MS : HOLDING_POLL_MS,
    )
  }

  private stopPolling(): void {
    if (this.poll) this.options.timers.clearTimeout(this.poll)
    this.poll = null
  }
}
