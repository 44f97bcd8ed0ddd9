import {describe, expect, it} from '@jest/globals'
import {execFileSync} from 'node:child_process'
import {cpSync, mkdtempSync, readFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {REPO_ROOT, runCli} from '../helpers/run-cli.js'

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

describe('installing', () => {
  it("installs the updraft command from a clone as the README says, under its own package name rather than npm's unrelated updraft", () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {name: string; version: string}
    expect(pkg.name).toBe('updraft-backfill')
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8')
    expect(readme).toContain(`npm install -g ./${pkg.name}-${pkg.version}.tgz`)
    expect(readme).not.toMatch(/npm install -g updraft\b(?!-)/)
    const prefix = mkdtempSync(join(tmpdir(), 'updraft-install-'))
    execFileSync('npm', ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', REPO_ROOT], {encoding: 'utf8'})
    expect(execFileSync(join(prefix, 'bin', 'updraft'), ['--version'], {encoding: 'utf8'})).toMatch(/^updraft-backfill\/\d+\.\d+\.\d+ /)
  }, 60_000)
})

describe('the example DAGs', () => {
  it('are safe to try the scheduler on: the latest due interval of each, not every interval since start_date', () => {
    const root = mkdtempSync(join(tmpdir(), 'updraft-examples-'))
    cpSync(join(REPO_ROOT, 'dags'), join(root, 'dags'), {recursive: true})
    const result = runCli(['scheduler', '--once'], {cwd: root})
    expect(result.code).toBe(0)
    const started = Object.fromEntries(result.stdout.split('\n').flatMap((line) => {
      const match = /Z (\w+): starting (\d+) scheduled run\(s\)/.exec(line)
      return match ? [[match[1], Number(match[2])]] : []
    }))
    // One date each; regional_sales runs it once per partition key.
    expect(started).toEqual({api_ingestion: 1, file_drop: 1, regional_sales: 3, sales_pipeline: 1, transform: 1, weekly_rollup: 1})
  }, 60_000)
})
