// The manifest describes dist/, so the two are removed together; a stale manifest makes oclif import missing files.
import {rmSync} from 'node:fs'

for (const target of ['dist', '.oclif.manifest.json', 'oclif.manifest.json']) rmSync(target, {force: true, recursive: true})
