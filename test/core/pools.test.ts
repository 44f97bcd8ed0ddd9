import {describe, expect, it} from '@jest/globals'

import {validateDag} from '../../src/core/dag/validate.js'
import {EMPTY_LEDGER, exchangeSlots, type LedgerContext, type PoolLedger, type PoolWaiter, poolStatuses, setPool} from '../../src/core/state/pools.js'

const waiter = (key: string, fields: Partial<PoolWaiter> = {}): PoolWaiter => ({asked_at: 0, key, logical_date: '2024-01-01T00:00:00.000Z', newest_first: false, pool: 'p', priority: 1, scheduled: false, slots: 1, ...fields})
const at = (now: number, pid = 1, host = 'here', leaseMs: null | number = null): LedgerContext => ({leaseMs, now, process: {host, isAlive: (other) => other !== 99, pid}})

/** One exchange by `owner`, returning the ledger after it and what the owner was granted. */
function exchange(ledger: PoolLedger, owner: string, held: Record<string, number>, waiting: PoolWaiter[], context = at(0)) {
  const report = {held: Object.fromEntries(Object.entries(held).map(([pool, running]) => [pool, {idle: 0, queued: 0, running}])), waiting}
  return exchangeSlots(ledger, owner, report, context)
}

describe('the pool ledger (§17)', () => {
  const onePool = setPool(EMPTY_LEDGER, 'p', 1, null)

  it("serves a scheduled run's task instance before any backfill's, whatever their priority and dates", () => {
    const held = exchange(onePool, 'backfill', {p: 1}, [waiter('backfill-ti', {logical_date: '2020-01-01T00:00:00.000Z', priority: 100})])
    const scheduledWaits = exchange(held.ledger, 'scheduler', {}, [waiter('scheduled-ti', {scheduled: true})])
    expect(scheduledWaits.exchange.granted).toEqual([])
    const freed = exchange(scheduledWaits.ledger, 'backfill', {}, [waiter('backfill-ti', {logical_date: '2020-01-01T00:00:00.000Z', priority: 100})])
    expect(freed.exchange.granted).toEqual([])
    expect(freed.exchange.contested).toEqual(['p'])
    const pickedUp = exchange(freed.ledger, 'scheduler', {}, [waiter('scheduled-ti', {scheduled: true})])
    expect(pickedUp.exchange.granted).toEqual(['scheduled-ti'])
    expect(poolStatuses(pickedUp.ledger, at(0)).find((pool) => pool.name === 'p')).toMatchObject({open: 0, queued: 1, running: 0, waiting: 1})
  })

  it('orders equals by priority, then the oldest date, then the newest when both run backwards', () => {
    const ledger = setPool(EMPTY_LEDGER, 'p', 1, null)
    const order = (waiters: PoolWaiter[]) => {
      const granted: string[] = []
      let current = exchange(ledger, 'a', {}, waiters)
      while (current.exchange.granted.length > 0) {
        granted.push(...current.exchange.granted)
        current = exchange(current.ledger, 'a', {}, waiters.filter((one) => !granted.includes(one.key)))
      }

      return granted
    }

    expect(order([waiter('old'), waiter('new', {logical_date: '2024-02-01T00:00:00.000Z'}), waiter('heavy', {logical_date: '2025-01-01T00:00:00.000Z', priority: 3})])).toEqual(['heavy', 'old', 'new'])
    expect(order([waiter('old', {newest_first: true}), waiter('new', {logical_date: '2024-02-01T00:00:00.000Z', newest_first: true})])).toEqual(['new', 'old'])
  })

  it('drops an owner whose pid is gone on this host, or whose lease lapsed elsewhere, and keeps a live one', () => {
    const dead = exchange(onePool, 'dead', {p: 1}, [], at(0, 99))
    expect(exchange(dead.ledger, 'me', {}, [waiter('mine')]).exchange.granted).toEqual(['mine'])
    const remote = exchange(onePool, 'remote', {p: 1}, [], at(0, 99, 'elsewhere', 30_000))
    expect(exchange(remote.ledger, 'me', {}, [waiter('mine')], at(29_000, 1, 'here', 30_000)).exchange.granted).toEqual([])
    expect(exchange(remote.ledger, 'me', {}, [waiter('mine')], at(31_000, 1, 'here', 30_000)).exchange.granted).toEqual(['mine'])
  })

  it('refuses a waiter whose pool is gone or now too small, and never grants past the slots', () => {
    const refused = exchange(onePool, 'me', {}, [waiter('gone', {pool: 'nope'}), waiter('big', {slots: 2}), waiter('fits'), waiter('next')])
    expect(refused.exchange.rejected.map((entry) => entry.key)).toEqual(['gone', 'big'])
    expect(refused.exchange.granted).toEqual(['fits'])
    expect(refused.exchange.usage.p).toEqual({slots: 1, used: 1})
  })
})

describe('pool task keys', () => {
  const load = (definition: Record<string, unknown>) => validateDag({schedule_interval: '@daily', start_date: '2024-01-01', ...definition}, '/dags/d.mjs', 'd')

  it('adds downstream weights by default, upstream ones with weight_rule upstream, none with absolute', () => {
    const tasks = (rule: string) => load({default_args: {weight_rule: rule}, tasks: [{bash_command: 'true', task_id: 'a'}, {bash_command: 'true', priority_weight: 2, task_id: 'b', upstream: ['a']}, {bash_command: 'true', priority_weight: 3, task_id: 'c', upstream: ['b']}]}).tasks
    const weights = (rule: string) => Object.fromEntries(tasks(rule).map((task) => [task.taskId, task.priorityWeight]))
    expect(weights('downstream')).toEqual({a: 6, b: 5, c: 3})
    expect(weights('upstream')).toEqual({a: 1, b: 3, c: 6})
    expect(weights('absolute')).toEqual({a: 1, b: 2, c: 3})
  })

  it('takes pool, pool_slots and priority_weight from default_args, a task overriding them', () => {
    const [first, second] = load({default_args: {pool: 'warehouse', pool_slots: 2}, tasks: [{bash_command: 'true', task_id: 'a'}, {bash_command: 'true', pool: 'api', pool_slots: 1, task_id: 'b'}]}).tasks
    expect([first?.pool, first?.poolSlots, second?.pool, second?.poolSlots]).toEqual(['warehouse', 2, 'api', 1])
  })

  it('refuses bad values with what it expected', () => {
    expect(() => load({tasks: [{bash_command: 'true', pool_slots: 0, task_id: 'a'}]})).toThrow('expected task "a" pool_slots to be a positive integer, got 0')
    expect(() => load({tasks: [{bash_command: 'true', task_id: 'a', weight_rule: 'sideways'}]})).toThrow('expected task "a" weight_rule to be one of absolute, downstream, upstream, got "sideways"')
    expect(() => load({max_active_tasks: 0, tasks: [{bash_command: 'true', task_id: 'a'}]})).toThrow('expected max_active_tasks to be a positive integer, got 0')
    expect(() => load({tasks: [{bash_command: 'true', pool: 'has space', task_id: 'a'}]})).toThrow('expected task "a" pool to be a pool name')
  })
})
