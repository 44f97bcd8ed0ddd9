import {execFileSync} from 'node:child_process'

import {afterAll, beforeAll} from '@jest/globals'
import {type Browser, chromium} from 'playwright-core'

import {startCli} from './run-cli.js'

/** Debian's chromium, headless (never a browser downloaded by the driver). */
export function launchChromium(): Promise<Browser> {
  const executablePath = execFileSync('sh', ['-c', 'command -v chromium'], {encoding: 'utf8'}).trim()
  // Root in CI: Chromium refuses its sandbox as root.
  return chromium.launch({args: ['--no-sandbox'], executablePath, headless: true})
}

/** One Chromium for a whole test file, launched before its tests and closed after them. */
export function chromiumForSuite(): () => Browser {
  let browser: Browser | undefined
  beforeAll(async () => {
    browser = await launchChromium()
  })
  afterAll(async () => {
    await browser?.close()
  })
  return () => browser as Browser
}

/**
 * `updraft webserver` on a free port in `root`; resolves once it says where it listens and, unless started
 * with --read-only or --token, the one-time sign-in URL it prints.
 */
export async function startWebserver(root: string, extraArgs: string[] = []) {
  const server = startCli(['webserver', '--port', '0', ...extraArgs], {cwd: root})
  const printsSignIn = !extraArgs.includes('--read-only') && !extraArgs.includes('--token')
  const started = Date.now()
  let url: string | undefined
  let signInUrl: string | undefined
  while (url === undefined || (printsSignIn && signInUrl === undefined)) {
    url = /Serving (http:\/\/\S+)/.exec(server.output().stdout)?.[1]
    signInUrl = /(http:\/\/\S+\?token=\S+)/.exec(server.output().stdout)?.[1]
    if (server.child.exitCode !== null) throw new Error(`webserver exited: ${server.output().stderr}`)
    if (Date.now() - started > 15_000) throw new Error(`webserver did not start: ${server.output().stderr}`)
    await new Promise((resolve) => {
      setTimeout(resolve, 50)
    })
  }

  return {...server, signInUrl: signInUrl ?? '', url}
}
