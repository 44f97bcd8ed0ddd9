/**
 * The tables of the PostgreSQL store, as numbered migrations applied in order, each once, in one transaction
 * with its number. Never edit one that has shipped: add the next.
 *
 * Runs and records are `json`, not `jsonb`: a run is always read and written whole, and `json` keeps the order of
 * its keys (a run's task instances read in the DAG's order), as the embedded store's documents do.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE updraft_dags (dag_id text PRIMARY KEY);
  CREATE TABLE updraft_runs (
    dag_id text NOT NULL,
    run_id text NOT NULL,
    logical_date text,
    start_date text,
    scheduled boolean NOT NULL,
    run json NOT NULL,
    PRIMARY KEY (dag_id, run_id)
  );
  CREATE INDEX updraft_runs_by_date ON updraft_runs (dag_id, logical_date);
  CREATE INDEX updraft_runs_by_start ON updraft_runs (dag_id, start_date) WHERE start_date IS NOT NULL;
  CREATE INDEX updraft_runs_scheduled ON updraft_runs (dag_id, logical_date) WHERE scheduled;
  CREATE TABLE updraft_backfills (id bigint PRIMARY KEY, dag_id text NOT NULL, record json NOT NULL, run_ids json NOT NULL);
  CREATE TABLE updraft_dag_settings (dag_id text PRIMARY KEY, settings json NOT NULL);
  CREATE TABLE updraft_claims (
    dag_id text NOT NULL,
    key text NOT NULL,
    run_id text NOT NULL,
    owner text NOT NULL,
    pid integer NOT NULL,
    host text NOT NULL,
    since text NOT NULL,
    lease_until timestamptz NOT NULL,
    PRIMARY KEY (dag_id, key)
  );
  CREATE INDEX updraft_claims_by_owner ON updraft_claims (owner);
  CREATE TABLE updraft_cancels (backfill_id bigint PRIMARY KEY, requested_by text NOT NULL);
  CREATE SEQUENCE updraft_changes;
  `,
  // Task logs, so a try's output reads from any machine: the tail of each try's log, by the path it was recorded under.
  `
  CREATE TABLE updraft_logs (path text PRIMARY KEY, text text NOT NULL);
  `,
  // Pools and who holds their slots: one ledger row, changed under its row lock, so a grant sees every holder at once.
  `
  CREATE TABLE updraft_pool_ledger (id integer PRIMARY KEY CHECK (id = 1), ledger json NOT NULL);
  INSERT INTO updraft_pool_ledger (id, ledger) VALUES (1, '{"owners": {}, "pools": {}}');
  `,
  // Pause requests (README "Requests and the scheduler"), as cancel requests are kept.
  `
  CREATE TABLE updraft_pauses (backfill_id bigint PRIMARY KEY);
  `,
]
