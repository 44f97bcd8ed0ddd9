import {createHash, randomBytes, timingSafeEqual} from 'node:crypto'
import type {IncomingMessage} from 'node:http'

/** The session cookie: HttpOnly (no script reads it) and SameSite=Strict (no other site's page sends it). */
export const SESSION_COOKIE = 'updraft_session'

/** A signed-in browser: its CSRF token, which every change it posts must carry. */
export interface WebSession {
  csrf: string
}

/** Why a POST is refused, with its HTTP status; null when it may change something. */
export type Refusal = null | {code: 'CSRF_MISMATCH' | 'CROSS_ORIGIN' | 'NOT_SIGNED_IN' | 'READ_ONLY'; message: string; status: 401 | 403 | 405}

const digest = (text: string) => createHash('sha256').update(text).digest()

/** Compares secrets in time that does not depend on where they differ (hashing first makes the lengths equal). */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b))
}

const newSecret = () => randomBytes(32).toString('base64url')

/**
 * Who may change anything through the web page (README "The web page"). A browser signs in once with the token
 * `updraft webserver` printed, which is used up then unless it was fixed with `--token`; it gets a session
 * cookie and a CSRF token. Sessions live in this process only: restarting the server signs everyone out.
 */
export class WebAuth {
  private oneTimeToken: null | string
  /** Sessions by the digest of their cookie value, so the lookup never compares the secret itself. */
  private readonly sessions = new Map<string, WebSession>()

  constructor(private readonly options: {fixedToken: null | string; readOnly: boolean}) {
    this.oneTimeToken = options.readOnly || options.fixedToken !== null ? null : newSecret()
  }

  /** The token to print in the sign-in URL: only a one-time one (a fixed token is the user's own secret). */
  get printableToken(): null | string {
    return this.oneTimeToken
  }

  get readOnly(): boolean {
    return this.options.readOnly
  }

  /** Signs a browser in with `token`: the new session's cookie value, or null for a wrong or used-up token. */
  signIn(token: string): null | string {
    const {fixedToken} = this.options
    if (fixedToken !== null ? !sameSecret(token, fixedToken) : this.oneTimeToken === null || !sameSecret(token, this.oneTimeToken)) return null
    if (fixedToken === null) this.oneTimeToken = null
    const cookie = newSecret()
    this.sessions.set(digest(cookie).toString('hex'), {csrf: newSecret()})
    return cookie
  }

  sessionOf(request: IncomingMessage): null | WebSession {
    const cookie = cookiesOf(request)[SESSION_COOKIE]
    return cookie === undefined ? null : (this.sessions.get(digest(cookie).toString('hex')) ?? null)
  }

  /** Whether a POST may change something: a session, its CSRF token, and a page of this server's own origin. */
  refusalOf(request: IncomingMessage, csrf: null | string): Refusal {
    if (this.readOnly) return {code: 'READ_ONLY', message: 'Expected a server started without --read-only to change anything, got one started with it.', status: 405}
    const session = this.sessionOf(request)
    if (!session) return {code: 'NOT_SIGNED_IN', message: 'Expected a signed-in browser (open the sign-in URL updraft webserver printed), got a request without a session.', status: 401}
    const origin = request.headers.origin
    const own = `http://${request.headers.host ?? ''}`
    if (origin !== own) return {code: 'CROSS_ORIGIN', message: `Expected a request from this page's origin ${own}, got ${origin === undefined ? 'no Origin header' : `origin ${origin}`}.`, status: 403}
    if (csrf === null || !sameSecret(csrf, session.csrf)) return {code: 'CSRF_MISMATCH', message: `Expected the page's CSRF token with the request, got ${csrf === null ? 'none' : 'a different one'}; reload the page and try again.`, status: 403}
    return null
  }
}

/** The cookie header for a new session. */
export function sessionCookie(value: string): string {
  return `${SESSION_COOKIE}=${value}; HttpOnly; SameSite=Strict; Path=/`
}

function cookiesOf(request: IncomingMessage): Record<string, string> {
  const cookies: Record<string, string> = {}
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const at = part.indexOf('=')
    if (at > 0) cookies[part.slice(0, at).trim()] = part.slice(at + 1).trim()
  }

  return cookies
}
