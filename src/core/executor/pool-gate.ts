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
 * One apply loop's door to the pools (README "Pools"). A task instance asks for its slots and starts when granted; it gives
 * them back when its try ends. Granting goes through the store's ledger, so every process sharing the store is
 * served in one order; a slot freed here goes straight to a waiter of this loop only while no other process
 * waits in that pool, which keeps a long backfill of quick tasks from asking the store for every one of them.
 */
export class PoolGate {
  private readonly waiting = new Map<string, PoolWaiter>()
  /**
   * Slots held by this loop's tries, per pool: all of them, and those of tries that reported running (for
   * `pools list`). Counts, not entries per try: a year of quick tries would otherwise fill and empty a map.
   */
  private readonly held = new Map<string, {running: number; total: number}>()
  /** Tries holding slots per capped task (max_active_tis_per_dag across processes). */
  private readonly capped = new Map<string, number>()
  /** Slots freed here and not yet given back, per pool. */
  private readonly idle = new Map<string, number>()
  private contested = new Set<string>()
  private readonly shownWaits = new Map<string, number>()
  private exchanging: null | Promise<void> = null
  private exchangeQueued = false
  private registered = false
  private closed = false
  private poll: null | TimerHandle = null
  /** The next exchange is the periodic one, which also gives idle slots back. */
  private pollDue = false

  constructor(private readonly options: PoolGateOptions) {}

  /**
   * Takes `slots` of `pool` at once if this loop holds them idle, no other process waits in the pool and none of
   * this loop's own waiters there would be passed over; whether it did.
   */
  take(pool: string, slots: number): boolean {
    const idle = this.idle.get(pool) ?? 0
    if (idle < slots || this.contested.has(pool)) return false
    for (const waiter of this.waiting.values()) if (waiter.pool === pool) return false
    this.idle.set(pool, idle - slots)
    this.hold(pool, slots)
    return true
  }

  /** Asks for a ready task instance's slots; `onGranted` says when it has them (perhaps at once). */
  request(waiter: PoolWaiter): void {
    this.waiting.set(waiter.key, waiter)
    if (!this.serveLocally(waiter.pool)) this.exchangeSoon()
  }

  /** A try holding `slots` of `pool` reported running. */
  running(pool: string, slots: number): void {
    const held = this.held.get(pool)
    if (held) held.running = Math.min(held.total, held.running + slots)
  }

  /** A waiter stopped waiting (the backfill stops): it asks for nothing any more. */
  withdraw(key: string): void {
    if (!this.waiting.delete(key)) return
    this.shownWaits.delete(key)
    this.exchangeSoon()
  }

  /** A try holding `slots` of `pool` ended (`ran`: after reporting running): its slots are free again. */
  release(pool: string, slots: number, ran: boolean, capKey: null | string): void {
    if (capKey !== null) {
      const tries = (this.capped.get(capKey) ?? 1) - 1
      if (tries > 0) this.capped.set(capKey, tries)
      else this.capped.delete(capKey)
    }

    const held = this.held.get(pool)
    if (!held) return
    held.total -= slots
    if (ran) held.running = Math.max(0, held.running - slots)
    held.running = Math.min(held.running, held.total)
    if (held.total <= 0) this.held.delete(pool)
    this.idle.set(pool, (this.idle.get(pool) ?? 0) + slots)
    if (this.contested.has(pool)) this.exchangeSoon()
    else this.serveLocally(pool)
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
      // A capped task's tries are counted by the ledger across processes, so only the ledger grants them.
      for (const waiter of this.waiting.values()) if (waiter.pool === pool && !waiter.cap && (best === undefined || outranks(waiter, best))) best = waiter
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
    this.hold(waiter.pool, waiter.slots)
    if (waiter.cap) this.capped.set(waiter.cap.key, (this.capped.get(waiter.cap.key) ?? 0) + 1)
    this.options.onGranted(key)
  }

  private hold(pool: string, slots: number): void {
    const held = this.held.get(pool)
    if (held) held.total += slots
    else this.held.set(pool, {running: 0, total: slots})
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
    for (const [pool, {running, total}] of this.held) held[pool] = {idle: 0, queued: total - running, running}

    // Idle slots are kept for this loop's next task instances (a fan-out of quick tasks would otherwise ask the
    // store for every wave) until another process waits in their pool, or until the periodic exchange: a loop
    // that needs them again then asks in turn.
    for (const [pool, slots] of this.idle) {
      if (slots === 0 || this.pollDue || this.contested.has(pool)) this.idle.delete(pool)
      else (held[pool] ??= {idle: 0, queued: 0, running: 0}).idle = slots
    }

    this.pollDue = false
    const waiting = [...this.waiting.values()]
    const holdsNothing = waiting.length === 0 && Object.keys(held).length === 0
    if (holdsNothing && !this.registered) return
    const sent = new Map(waiting.map((waiter) => [waiter.key, waiter]))
    const result = await this.options.pools.exchange(this.options.ownerId, holdsNothing ? null : {capped: Object.fromEntries(this.capped), held, waiting})
    this.registered = !holdsNothing
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
    if (this.waiting.size === 0 && this.held.size === 0 && !idle && !this.registered) return
    this.poll = this.options.timers.setTimeout(
      () => {
        this.poll = null
        this.pollDue = true
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
