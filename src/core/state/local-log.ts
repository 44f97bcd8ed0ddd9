import {open, readFile} from 'node:fs/promises'

/** A try's log file on this machine, or null when it is not here (another machine ran it, or it was removed). */
export async function readLocalLog(path: string): Promise<null | string> {
  try {
    return await readFile(path, 'utf8')
  } catch {
    return null
  }
}

/** The last `limit` bytes of a log file, saying how much was cut before them; null when the file is not here. */
export async function logTail(path: string, limit: number): Promise<null | string> {
  let file
  try {
    file = await open(path, 'r')
  } catch {
    return null
  }

  try {
    const {size} = await file.stat()
    const start = Math.max(0, size - limit)
    const buffer = Buffer.alloc(size - start)
    await file.read(buffer, 0, buffer.length, start)
    // A cut can fall inside a multi-byte character: the text starts at the next whole one.
    const text = buffer.toString('utf8').replace(/^\uFFFD+/, '')
    return start === 0 ? text : `[updraft: the first ${start} bytes of this log were cut; the last ${buffer.length} are kept]\n${text}`
  } finally {
    await file.close()
  }
}
