import {describe, expect, it} from '@jest/globals'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {REPO_ROOT} from '../helpers/run-cli.js'

interface Manifest {
  commands: Record<string, {examples?: string[]; id: string}>
}

describe('the README command reference', () => {
  it('shows every example of every command whole, as the command declares it', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8')
    const manifest = JSON.parse(readFileSync(join(REPO_ROOT, '.oclif.manifest.json'), 'utf8')) as Manifest
    const examples = Object.values(manifest.commands).flatMap((command) =>
      (command.examples ?? []).map((example) => example.replaceAll('<%= config.bin %>', 'updraft').replaceAll('<%= command.id %>', command.id.replaceAll(':', ' '))),
    )
    expect(examples.length).toBeGreaterThan(10)
    for (const example of examples) expect(readme).toContain(`  $ ${example}\n`)
  })
})
