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
