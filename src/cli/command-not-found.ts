import type {Hook} from '@oclif/core'
import {distance} from 'fastest-levenshtein'

import {printError} from './base-command.js'

/**
 * An unknown command names the closest one, with the rest of the command line kept, instead of oclif's bare
 * "not found": `dags backfil X` suggests `updraft dags backfill X`.
 */
const hook: Hook.CommandNotFound = async function (options) {
  const typed = options.id.split(':')
  let best: {cost: number; id: string; used: number} | null = null
  for (const id of options.config.commandIDs) {
    const words = id.split(':')
    if (words.length > typed.length) continue
    const cost = distance(typed.slice(0, words.length).join(' '), words.join(' '))
    if (best === null || cost < best.cost || (cost === best.cost && words.length > best.used)) best = {cost, id, used: words.length}
  }

  const typedText = typed.join(' ')
  const suggestion = best && best.cost <= Math.max(2, Math.floor(best.id.length / 4)) ? [[options.config.bin, ...best.id.split(':'), ...typed.slice(best.used), ...(options.argv ?? [])].join(' ')] : []
  printError(`Expected an ${options.config.bin} command (see ${options.config.bin} --help), got "${typedText}".`, 'COMMAND_NOT_FOUND', suggestions(suggestion, options.config.bin))
  this.exit(2)
}

function suggestions(closest: string[], bin: string): string[] {
  return closest.length > 0 ? closest : [`${bin} --help`]
}

export default hook
