import type {PoolStatus} from '../core/state/pools.js'
import {table} from './format.js'

/** One line per pool for `pools list` and `pools set`. */
export function poolsText(pools: readonly PoolStatus[]): string {
  return table(
    ['pool', 'slots', 'running', 'queued', 'open', 'waiting', 'description'],
    pools.map((pool) => [pool.name, String(pool.slots), String(pool.running), String(pool.queued), String(pool.open), String(pool.waiting), pool.description]),
  )
}
