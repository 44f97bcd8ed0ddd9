import {closest, distance} from 'fastest-levenshtein'

/**
 * The candidate `typed` was most likely meant to be, or null when none is close: `nope` is not a slip for
 * `transform`, and a suggestion that is not close only sends the user the wrong way.
 */
export function closeMatch(typed: string, candidates: readonly string[]): null | string {
  if (candidates.length === 0) return null
  const best = closest(typed, [...candidates])
  const allowed = Math.max(2, Math.floor(Math.max(typed.length, best.length) / 3))
  return distance(typed.toLowerCase(), best.toLowerCase()) <= allowed ? best : null
}
