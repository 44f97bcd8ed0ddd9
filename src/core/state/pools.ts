import {DEFAULT_POOL} from '../dag/model.js'
import {POOL_NAME_PATTERN} from '../dag/validate.js'
import {UpdraftError} from '../errors.js'
import type {ProcessInfo} from './file-lock.js'

/** Airflow's default pool size: every task is in some pool, and this one exists from the start (README "Pools"). */
export const DEFAULT_POOL_SLOTS = 128
export const DEFAULT_POOL_DESCRIPTION = 'Default pool'

export interface PoolDefinition {
  description: string
  slots: number
}

/** A pool as `pools list` shows it: slots held by queued and running tries, what is left, and how many wait. */
export interface PoolStatus {
  description: string
  name: string
  open: number
  queued: number
  running: number
  slots: number
  waiting: number
}

/** A ready task instance waiting for slots; the ledger grants them to the best-ranked waiters first. */
export interface PoolWaiter {
  /** When it started waiting (ms), so that equals are served first come, first served. */
  asked_at: number
  /** Its task's max_active_tis_per_dag: at most `limit` tries of the task `key` (`<dag>.<task>`) hold slots at once. */
  cap?: {key: string; limit: number}
  /** The task instance: `<dag>/<run id>/<task>`, unique among one owner's waiters. */
  key: string
  logical_date: null | string
  /** Its backfill runs newest dates first (`-B`). */
  newest_first: boolean
  pool: string
  priority: number
  /** A scheduled run's task instances come before any backfill's. */
  scheduled: boolean
  slots: number
}

/** Slots an owner holds in one pool: for queued tries, for running ones, and freed but not yet given back. */
export interface HeldSlots {
  idle: number
  queued: number
  running: number
}

/** One apply loop's standing in the ledger: what it holds and what waits. */
interface SlotOwner {
  /** Tries holding slots per capped task (`PoolWaiter.cap`), besides those in `granted`. */
  capped?: Record<string, number>
  /** Waiters granted slots while their owner was not looking; the slots count as held until it picks them up. */
  granted: PoolWaiter[]
  held: Record<string, HeldSlots>
  host: string
  /** Ms since the epoch, or null where a dead owner is found by its pid (one machine). */
  lease_until: null | number
  pid: number
  waiting: PoolWaiter[]
}

/** Everything pools are: their sizes, and who holds and waits for slots. One document, changed atomically. */
export interface PoolLedger {
  owners: Record<string, SlotOwner>
  pools: Record<string, PoolDefinition>
}

export const EMPTY_LEDGER: PoolLedger = {owners: {}, pools: {}}

/** What an owner says at each exchange: what it holds now and what of its own waits. */
export interface SlotReport {
  /** Tries holding slots per capped task. */
  capped?: Record<string, number>
  held: Record<string, HeldSlots>
  waiting: PoolWaiter[]
}

/** What an exchange gives back to its owner. */
export interface SlotExchange {
  /** Waiters that now hold their slots (as queued). */
  granted: string[]
  /** Pools in which another owner waits: a slot freed there goes back to the ledger rather than to a waiter of one's own. */
  contested: string[]
  /** Waiters that can never be served: their pool is gone or smaller than they need. */
  rejected: Array<{key: string; message: string}>
  /** Each pool's size and the slots held in it, for saying why something waits. */
  usage: Record<string, {slots: number; used: number}>
}

/** What deciding who is alive needs: the time and this process. */
export interface LedgerContext {
  /** How long an owner stays alive without an exchange (ms); null: until its pid is gone. */
  leaseMs: null | number
  now: number
  process: ProcessInfo
}

function definitionsOf(ledger: PoolLedger): Record<string, PoolDefinition> {
  return {[DEFAULT_POOL]: {description: DEFAULT_POOL_DESCRIPTION, slots: DEFAULT_POOL_SLOTS}, ...ledger.pools}
}

function isAlive(owner: SlotOwner, context: LedgerContext): boolean {
  if (owner.lease_until !== null && owner.lease_until < context.now) return false
  return owner.host !== context.process.host || context.process.isAlive(owner.pid)
}

function liveOwners(ledger: PoolLedger, context: LedgerContext): Record<string, SlotOwner> {
  return Object.fromEntries(Object.entries(ledger.owners).filter(([, owner]) => isAlive(owner, context)))
}

/** Slots granted to an owner's waiters in `pool` that it has not picked up yet. */
function grantedIn(owner: SlotOwner, pool: string): number {
  return owner.granted.reduce((sum, waiter) => sum + (waiter.pool === pool ? waiter.slots : 0), 0)
}

function heldIn(owner: SlotOwner, pool: string): number {
  const held = owner.held[pool]
  return grantedIn(owner, pool) + (held ? held.idle + held.queued + held.running : 0)
}

/** Tries of a capped task holding slots, across every owner. */
function cappedTries(owners: Record<string, SlotOwner>, key: string): number {
  let tries = 0
  for (const owner of Object.values(owners)) tries += (owner.capped?.[key] ?? 0) + owner.granted.filter((waiter) => waiter.cap?.key === key).length
  return tries
}

/** Whether `a` is served before `b` (README "Pools"): scheduled runs first, then priority, then the oldest date (newest with -B). */
export function outranks(a: PoolWaiter, b: PoolWaiter): boolean {
  return compareWaiters(a, b) < 0
}

function compareWaiters(a: PoolWaiter, b: PoolWaiter): number {
  if (a.scheduled !== b.scheduled) return a.scheduled ? -1 : 1
  if (a.priority !== b.priority) return b.priority - a.priority
  const aDate = a.logical_date ?? '\uffff'
  const bDate = b.logical_date ?? '\uffff'
  if (aDate !== bDate) return (a.newest_first && b.newest_first ? -1 : 1) * aDate.localeCompare(bDate)
  return a.asked_at - b.asked_at || a.key.localeCompare(b.key)
}

/** An owner's lease after an exchange: renewed once half of it has run out, so that most polls change nothing. */
function leaseAfter(previous: SlotOwner | undefined, {leaseMs, now}: LedgerContext): null | number {
  if (leaseMs === null) return null
  const current = previous?.lease_until ?? null
  return current !== null && current - now > leaseMs / 2 ? current : now + leaseMs
}

/** The pools with their use, leaving out what dead owners hold. */
export function poolStatuses(ledger: PoolLedger, context: LedgerContext): PoolStatus[] {
  const owners = Object.values(liveOwners(ledger, context))
  return Object.entries(definitionsOf(ledger))
    .map(([name, {description, slots}]) => {
      let queued = 0
      let running = 0
      let idle = 0
      let waiting = 0
      for (const owner of owners) {
        const held = owner.held[name]
        queued += (held?.queued ?? 0) + grantedIn(owner, name)
        running += held?.running ?? 0
        idle += held?.idle ?? 0
        waiting += owner.waiting.filter((waiter) => waiter.pool === name).length
      }

      return {description, name, open: Math.max(0, slots - queued - running - idle), queued, running, slots, waiting}
    })
    .sort((a, b) => a.name.localeCompare(b.name))
}

/** Sets a pool's size, and its description unless null (which keeps the one it has). */
export function setPool(ledger: PoolLedger, name: string, slots: number, description: null | string): PoolLedger {
  const previous = definitionsOf(ledger)[name]
  return {...ledger, pools: {...ledger.pools, [name]: {description: description ?? previous?.description ?? '', slots}}}
}

export function deletePool(ledger: PoolLedger, name: string): PoolLedger {
  const {[name]: _deleted, ...pools} = ledger.pools
  return {...ledger, pools}
}

export function poolExists(ledger: PoolLedger, name: string): boolean {
  return name in definitionsOf(ledger)
}

/**
 * One owner's exchange (null report: it leaves, giving back everything): dead owners are dropped, the owner's
 * report replaces what it held, and free slots go to the best-ranked waiters of every owner. Waiters of other
 * owners keep their grant until their owner's next exchange picks it up.
 */
export function exchangeSlots(ledger: PoolLedger, ownerId: string, report: null | SlotReport, context: LedgerContext): {exchange: SlotExchange; ledger: PoolLedger} {
  // Owners are changed in place below; the ledger passed in stays as it was.
  const owners = structuredClone(liveOwners(ledger, context))
  const previous = owners[ownerId]
  delete owners[ownerId]
  const definitions = definitionsOf(ledger)
  const exchange: SlotExchange = {contested: [], granted: [], rejected: [], usage: {}}
  if (report !== null) {
    const held: Record<string, HeldSlots> = Object.fromEntries(Object.entries(report.held).map(([pool, slots]) => [pool, {...slots}]))
    const capped: Record<string, number> = {...report.capped}
    const stillWaiting = new Set(report.waiting.map((waiter) => waiter.key))
    const waiting: PoolWaiter[] = []
    const pickedUp = new Set<string>()
    for (const waiter of previous?.granted ?? []) {
      if (!stillWaiting.has(waiter.key)) continue
      pickedUp.add(waiter.key)
      exchange.granted.push(waiter.key)
      const slots = (held[waiter.pool] ??= {idle: 0, queued: 0, running: 0})
      slots.queued += waiter.slots
      if (waiter.cap) capped[waiter.cap.key] = (capped[waiter.cap.key] ?? 0) + 1
    }

    for (const waiter of report.waiting) {
      if (pickedUp.has(waiter.key)) continue
      const pool = definitions[waiter.pool]
      if (pool === undefined) exchange.rejected.push({key: waiter.key, message: `pool ${waiter.pool} does not exist any more`})
      else if (waiter.slots > pool.slots) exchange.rejected.push({key: waiter.key, message: `pool ${waiter.pool} has ${pool.slots} slots now, fewer than the ${waiter.slots} the task needs`})
      else waiting.push(waiter)
    }

    owners[ownerId] = {capped, granted: [], held, host: context.process.host, lease_until: leaseAfter(previous, context), pid: context.process.pid, waiting}
  }

  for (const [pool, {slots}] of Object.entries(definitions)) {
    const candidates = Object.entries(owners)
      .flatMap(([id, owner]) => owner.waiting.filter((waiter) => waiter.pool === pool).map((waiter) => ({id, owner, waiter})))
      .sort((a, b) => compareWaiters(a.waiter, b.waiter))
    let used = Object.values(owners).reduce((sum, owner) => sum + heldIn(owner, pool), 0)
    for (const {id, owner, waiter} of candidates) {
      if (waiter.slots > slots - used || (waiter.cap && cappedTries(owners, waiter.cap.key) >= waiter.cap.limit)) continue
      used += waiter.slots
      owner.waiting = owner.waiting.filter((other) => other !== waiter)
      if (id === ownerId) {
        exchange.granted.push(waiter.key)
        const held = (owner.held[pool] ??= {idle: 0, queued: 0, running: 0})
        held.queued += waiter.slots
        if (waiter.cap) (owner.capped ??= {})[waiter.cap.key] = (owner.capped?.[waiter.cap.key] ?? 0) + 1
      } else {
        owner.granted = [...owner.granted, waiter]
      }
    }

    exchange.usage[pool] = {slots, used}
    const contested = Object.entries(owners).some(([id, owner]) => id !== ownerId && (owner.waiting.some((waiter) => waiter.pool === pool) || owner.granted.some((waiter) => waiter.pool === pool)))
    if (contested) exchange.contested.push(pool)
  }

  return {exchange, ledger: {owners, pools: ledger.pools}}
}

/** Pools as every store keeps them (README "Pools"): one ledger, read and changed whole under the store's own lock. */
export interface PoolStore {
  /** Removes pool `name`; `default_pool` cannot go, and an unknown name is an error. */
  delete(name: string): Promise<void>
  /** One owner's exchange with the ledger (see `exchangeSlots`). */
  exchange(ownerId: string, report: null | SlotReport): Promise<SlotExchange>
  list(): Promise<PoolStatus[]>
  /** The ids of the owners alive now: apply loops, and schedulers saying they run (`core/scheduler/presence.ts`). */
  liveOwners(): Promise<string[]>
  /** Creates or resizes pool `name`; `description` null keeps the one it has. */
  set(name: string, slots: number, description: null | string): Promise<PoolStatus>
}

/** How a store holds the ledger: a read, and an atomic change given the store's notion of now (ms). */
export interface LedgerAccess {
  read(): Promise<{ledger: PoolLedger; now: number}>
  update<T>(change: (ledger: PoolLedger, now: number) => {ledger: PoolLedger; result: T}): Promise<T>
}

export class LedgerPools implements PoolStore {
  constructor(
    private readonly access: LedgerAccess,
    private readonly process: ProcessInfo,
    private readonly leaseMs: null | number,
  ) {}

  async delete(name: string): Promise<void> {
    if (name === DEFAULT_POOL) throw new UpdraftError('POOL_PROTECTED', `Expected a pool other than ${DEFAULT_POOL}, which always exists (resize it with pools set), got ${name}.`)
    await this.access.update((ledger) => {
      if (!(name in ledger.pools)) throw unknownPool(name, ledger)
      return {ledger: deletePool(ledger, name), result: null}
    })
  }

  async exchange(ownerId: string, report: null | SlotReport): Promise<SlotExchange> {
    return this.access.update((ledger, now) => {
      const {exchange, ledger: changed} = exchangeSlots(ledger, ownerId, report, this.context(now))
      return {ledger: changed, result: exchange}
    })
  }

  async list(): Promise<PoolStatus[]> {
    const {ledger, now} = await this.access.read()
    return poolStatuses(ledger, this.context(now))
  }

  async liveOwners(): Promise<string[]> {
    const {ledger, now} = await this.access.read()
    return Object.keys(liveOwners(ledger, this.context(now)))
  }

  async set(name: string, slots: number, description: null | string): Promise<PoolStatus> {
    if (!POOL_NAME_PATTERN.test(name)) throw new UpdraftError('INVALID_POOL', `Expected a pool name of letters, digits, "_", "-" or "." (at most 256), got ${JSON.stringify(name)}.`, {exit: 2})
    if (!Number.isInteger(slots) || slots < 1) throw new UpdraftError('INVALID_POOL', `Expected pool slots to be a positive integer, got ${JSON.stringify(slots)}.`, {exit: 2})
    return this.access.update((ledger, now) => {
      const changed = setPool(ledger, name, slots, description)
      return {ledger: changed, result: poolStatuses(changed, this.context(now)).find((pool) => pool.name === name) as PoolStatus}
    })
  }

  private context(now: number): LedgerContext {
    return {leaseMs: this.leaseMs, now, process: this.process}
  }
}

/** UNKNOWN_POOL, naming the pools there are. */
export function unknownPool(name: string, ledger: PoolLedger): UpdraftError {
  return new UpdraftError('UNKNOWN_POOL', `Expected one of the pools ${Object.keys(definitionsOf(ledger)).sort().join(', ')}, got ${name} (create it with: updraft pools set ${name} SLOTS).`)
}
