import {readdirSync, statSync} from 'node:fs'
import {basename, dirname, join} from 'node:path'

import {readBackfills, type RecordedBackfills, type StateReaderContext} from './readers.js'

/**
 * Readings of the state file for long-lived readers (the web server's pages, the scheduler's evaluations). The
 * file is read again only when it or a journal beside it changed (its size, time or inode), so a hundred open
 * pages, or a scheduler looking every second, cost one read per change; while a backfill reads `running` it is
 * also read every few seconds, because a killed backfill changes no file and still has to turn `interrupted`. A backfill replaces the file by rename and folds journals into it, so a
 * reading that saw the files change under it is taken again; a reading that fails keeps the last good one.
 */
export class StateSnapshots {
  private last: null | {at: number; signature: string; value: RecordedBackfills} = null
  private pending: null | Promise<RecordedBackfills> = null

  constructor(
    private readonly context: StateReaderContext,
    private readonly options: {runningRefreshMs: number} = {runningRefreshMs: 2000},
  ) {}

  /** The state as it reads now, reusing the last reading while nothing changed. */
  async current(): Promise<RecordedBackfills> {
    this.pending ??= this.refresh().finally(() => {
      this.pending = null
    })
    return this.pending
  }

  private async refresh(): Promise<RecordedBackfills> {
    const now = this.context.clock().getTime()
    const signature = this.signature()
    const last = this.last
    if (last && last.signature === signature && !(last.value.records.some((record) => record.state === 'running') && now - last.at >= this.options.runningRefreshMs)) {
      return last.value
    }

    let lastError: unknown
    for (let attempt = 0; attempt < 3; attempt++) {
      const before = this.signature()
      try {
        const value = await readBackfills(this.context)
        if (this.signature() === before) {
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

  /** Sizes, times and inodes of the state file and its journals: any write changes at least one. */
  private signature(): string {
    const directory = dirname(this.context.dbPath)
    const prefix = basename(this.context.dbPath)
    let names: string[]
    try {
      names = readdirSync(directory).filter((name) => name === prefix || (name.startsWith(`${prefix}.`) && /\.journal(-\d+)?(\.flushing)?$/.test(name)))
    } catch {
      return 'no folder'
    }

    return names
      .sort()
      .map((name) => {
        try {
          const stat = statSync(join(directory, name))
          return `${name}:${stat.ino}:${stat.size}:${stat.mtimeMs}`
        } catch {
          return `${name}:gone`
        }
      })
      .join('|')
  }
}
