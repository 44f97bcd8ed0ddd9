import {closeSync, mkdirSync, openSync, writeSync} from 'node:fs'
import {dirname} from 'node:path'

/** Appends to a try's log file, creating its folder: for what updraft itself has to say about the try. */
export function appendLog(path: string, text: string): void {
  mkdirSync(dirname(path), {recursive: true})
  const fd = openSync(path, 'a')
  try {
    writeSync(fd, text)
  } finally {
    closeSync(fd)
  }
}
