// Builds into a fresh folder and swaps it in, so a CLI started from this checkout while tests rebuild (npm test
// runs the build first) never finds dist/ half-deleted. The manifest describes dist/, so it is rewritten right after.
import {execFileSync} from 'node:child_process'
import {cpSync, existsSync, renameSync, rmSync} from 'node:fs'
import {createRequire} from 'node:module'

import {buildSpawnHelper} from './build-spawn-helper.js'

const require = createRequire(import.meta.url)
const run = (script, args, env = {}) => execFileSync(process.execPath, [require.resolve(script), ...args], {env: {...process.env, ...env}, stdio: 'inherit'})

rmSync('dist.next', {force: true, recursive: true})
run('typescript/bin/tsc', ['-p', 'tsconfig.json', '--outDir', 'dist.next'])
// The web page's script and stylesheet are served as written: no front-end build step.
cpSync('src/web/assets', 'dist.next/web/assets', {recursive: true})
// The spawn helper's source ships in dist too, so an install from a packed tarball compiles it for its own machine.
cpSync('src/core/executor/spawn-helper.c', 'dist.next/core/executor/spawn-helper.c')
buildSpawnHelper('dist.next/core/executor')
rmSync('dist.old', {force: true, recursive: true})
if (existsSync('dist')) renameSync('dist', 'dist.old')
renameSync('dist.next', 'dist')
rmSync('dist.old', {force: true, recursive: true})
rmSync('oclif.manifest.json', {force: true})
run('oclif/bin/run.js', ['manifest'], {OCLIF_SKIP_NEW_VERSION_CHECK: 'true'})
