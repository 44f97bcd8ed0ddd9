import {readBackfills, openSharedStore, type RecordedBackfills, type StateReaderContext} from './readers.js'
import type {StateStore} from './store.js'

/**
 * Readings of the state for long-lived readers (the web server's pages, the scheduler's evaluations). The state
 * is read again only when the store's change signal moved, so a hundred open pages, or a scheduler looking every
 * second, cost one read per change; while a backfill reads `running` it is also read every few seconds, because
 * a killed backfill changes nothing and still has to turn `interrupted`. A reading that saw the state change
 * under it is taken again; a reading that fails keeps the last good one.
 */
export class StateSnapshots {
  private last: null | {at: number; signature: string; value: RecordedBackfills} = null
  private pending: null | Promise<RecordedBackfills> = null
  private store: null | Promise<StateStore> = null

  constructor(
    private readonly context: Omit<StateReaderContext, 'dagsFolder'>,
    private readonly options: {runningRefreshMs: number} = {runningRefreshMs: 2000},
  ) {}

  /** Lets go of the store (a database's listening connection, for one). */
  async close(): Promise<void> {
    const store = this.store
    this.store = null
    await (await store?.catch(() => null))?.close()
  }

  /** The state as it reads now, reusing the last reading while nothing changed. */
  async current(): Promise<RecordedBackfills> {
    this.pending ??= this.refresh().finally(() => {
      this.pending = null
    })
    return this.pending
  }

  private async refresh(): Promise<RecordedBackfills> {
    const now = this.context.clock().getTime()
    const signature = await this.signature()
    const last = this.last
    if (last && last.signature === signature && !(last.value.records.some((record) => record.state === 'running') && now - last.at >= this.options.runningRefreshMs)) {
      return last.value
    }

    let lastError: unknown
    for (let attempt = 0; attempt < 3; attempt++) {
      const before = await this.signature()
      try {
        const value = await readBackfills(this.context)
        if ((await this.signature()) === before) {
          this.last = {at: now, signature: before, value}
          return value
        }
      } catch (error) {
        lastError = error
      }
    }

    if (last) return last.value
    if (lastError) throw lastError
    return readBackfills(this.context)
  }

  private async signature(): Promise<string> {
    this.store ??= openSharedStore(this.context)
    try {
      return await (await this.store).changeSignature()
    } catch {
      this.store = null
      return 'unreadable'
    }
  }
}
