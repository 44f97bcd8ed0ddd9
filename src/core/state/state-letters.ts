import type {TaskInstanceState} from './schema.js'

/**
 * One letter per task instance state, for grids that must read without colour: the terminal under `NO_COLOR`
 * and the web page's compact grid rows. Distinct, so a grid row is a string of them.
 */
export const STATE_LETTERS: Readonly<Record<TaskInstanceState, string>> = {
  failed: 'F',
  none: '.',
  queued: 'Q',
  running: 'R',
  scheduled: 'q',
  skipped: 'K',
  success: 'S',
  up_for_retry: 'r',
  upstream_failed: 'U',
}

/**
 * One symbol per state, so that grids differ by shape as well as colour (for colour-blind readers and for
 * screenshots in grey): the terminal grid with colour and the web page's boxes. None is blank.
 */
export const STATE_SYMBOLS: Readonly<Record<TaskInstanceState, string>> = {
  failed: '✗',
  none: ' ',
  queued: '…',
  running: '▶',
  scheduled: '◦',
  skipped: '»',
  success: '✓',
  up_for_retry: '↻',
  upstream_failed: '↑',
}

/** The order legends list states in: outcomes first, then what is in flight, then what has not started. */
export const LEGEND_ORDER: readonly TaskInstanceState[] = ['success', 'failed', 'upstream_failed', 'running', 'queued', 'up_for_retry', 'skipped', 'scheduled', 'none']
