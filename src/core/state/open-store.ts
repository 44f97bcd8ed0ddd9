import type {StateStore, StoreOptions} from './store.js'

/** True when `--db` names a PostgreSQL database rather than the embedded store's catalog file. */
export function isDatabaseUrl(db: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(db)
}

/** Host, port and database of a database URL, never its password; a path as it is: what output may show. */
export function describeStore(db: string): string {
  if (!isDatabaseUrl(db)) return db
  try {
    const parsed = new URL(db)
    const host = parsed.searchParams.get('host') ?? (parsed.hostname || 'localhost')
    return `PostgreSQL at host ${host}, port ${parsed.port || '5432'}, database ${decodeURIComponent(parsed.pathname.slice(1)) || '(default)'}`
  } catch {
    return 'PostgreSQL at an unparsable URL'
  }
}

/**
 * The store `--db` names: a PostgreSQL database for a `postgres://` URL, else the embedded store at that path.
 * Each is loaded only when named, so a command on the embedded store never loads `pg`.
 */
export async function openStore(db: string, options: StoreOptions): Promise<StateStore> {
  if (isDatabaseUrl(db)) {
    const {PostgresStore} = await import('./postgres/postgres-store.js')
    return PostgresStore.open(db, options)
  }

  const {EmbeddedStore} = await import('./embedded/embedded-store.js')
  return EmbeddedStore.open(db, options)
}
