-- moesim results database, schema version 1.
--
-- One database per scenario run. The source of truth for the schema: the
-- same text is embedded in results/store.c (tests/unit/store checks that
-- the two are identical). results/SCHEMA.md documents every column.
-- Times are in seconds (_s), sizes in bytes, rates per second; counts of
-- tokens are plain integers; shares and utilizations are fractions 0..1.
-- The connection sets journal_mode=WAL and foreign_keys=ON itself.

PRAGMA application_id = 1297040723; -- 0x4D4F4553, "MOES"
PRAGMA user_version = 1;

-- The scenario this database belongs to: exactly one row.
CREATE TABLE scenario (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    name            TEXT NOT NULL,
    phase           TEXT NOT NULL CHECK (phase IN ('train', 'prefill', 'decode')),
    text            TEXT NOT NULL,   -- the scenario file's full text
    moesim_version  TEXT NOT NULL,   -- of the moesim that created the database
    created_at      TEXT NOT NULL    -- as given by the caller (ISO 8601 UTC)
);

-- Every file the scenario was built from, with the SHA-256 of its bytes.
CREATE TABLE scenario_file (
    position  INTEGER PRIMARY KEY,   -- 0-based, in the order given
    role      TEXT NOT NULL CHECK (role IN ('scenario', 'model', 'node', 'device')),
    path      TEXT NOT NULL,
    sha256    TEXT NOT NULL CHECK (length(sha256) = 64)
);

-- The policies to compare, in scenario file order (position 0 is the
-- default baseline of moesim compare).
CREATE TABLE policy (
    position  INTEGER PRIMARY KEY,   -- 0-based
    name      TEXT NOT NULL UNIQUE
);

-- One simulated run: one policy with one seed. Only status 'done' runs are
-- complete; 'running' means the run is in progress or its process was
-- killed; 'interrupted' and 'failed' runs keep no rows unless a failed run
-- was ended with its rows kept (see store_run_end).
CREATE TABLE run (
    run_id          INTEGER PRIMARY KEY,
    policy          TEXT NOT NULL REFERENCES policy (name),
    router          TEXT NOT NULL,
    placement       TEXT NOT NULL,
    seed            INTEGER NOT NULL CHECK (seed >= 0),
    status          TEXT NOT NULL
                    CHECK (status IN ('running', 'done', 'failed', 'interrupted')),
    started_at      TEXT NOT NULL,   -- as given by the caller (ISO 8601 UTC)
    finished_at     TEXT,            -- NULL while running
    wall_s          REAL,            -- host wall-clock time of the run
    moesim_version  TEXT NOT NULL,   -- of the moesim that ran it
    error           TEXT,            -- why it failed or stopped; NULL if done
    UNIQUE (policy, seed)
);

-- One layer of one step (metrics_layer). Dense layers have moe = 0.
CREATE TABLE layer_step (
    run_id                    INTEGER NOT NULL REFERENCES run (run_id) ON DELETE CASCADE,
    step                      INTEGER NOT NULL,
    layer                     INTEGER NOT NULL,
    moe                       INTEGER NOT NULL CHECK (moe IN (0, 1)),
    tokens                    INTEGER NOT NULL,
    token_experts             INTEGER NOT NULL,
    dropped                   INTEGER NOT NULL,
    imbalance_score           REAL,
    device_max_over_mean      REAL,
    expert_max_over_mean      REAL,
    attention_s               REAL,
    dispatch_s                REAL,
    expert_compute_max_s      REAL,
    expert_compute_mean_s     REAL,
    combine_s                 REAL,
    idle_mean_s               REAL,
    layer_s                   REAL,
    bytes_intra_node          REAL,
    bytes_inter_node          REAL,
    busiest_link_utilization  REAL,
    busiest_link              TEXT,
    PRIMARY KEY (run_id, step, layer)
) WITHOUT ROWID;

-- One device over one step, summed over layers (metrics_device).
CREATE TABLE device_step (
    run_id         INTEGER NOT NULL REFERENCES run (run_id) ON DELETE CASCADE,
    step           INTEGER NOT NULL,
    device         INTEGER NOT NULL,
    token_experts  INTEGER NOT NULL,
    compute_s      REAL,
    comm_s         REAL,
    idle_s         REAL,
    PRIMARY KEY (run_id, step, device)
) WITHOUT ROWID;

-- One step of the whole cluster (metrics_step).
CREATE TABLE step (
    run_id                   INTEGER NOT NULL REFERENCES run (run_id) ON DELETE CASCADE,
    step                     INTEGER NOT NULL,
    step_s                   REAL,
    tokens                   INTEGER NOT NULL,
    tokens_per_s             REAL,
    tokens_per_s_per_device  REAL,
    compute_s                REAL,
    a2a_s                    REAL,
    idle_s                   REAL,
    other_s                  REAL,
    bytes_intra_node         REAL,
    bytes_inter_node         REAL,
    mfu                      REAL,
    PRIMARY KEY (run_id, step)
) WITHOUT ROWID;

-- Load of one logical expert of one layer over the run (metrics_expert).
CREATE TABLE expert_load (
    run_id    INTEGER NOT NULL REFERENCES run (run_id) ON DELETE CASCADE,
    layer     INTEGER NOT NULL,
    expert    INTEGER NOT NULL,
    load      INTEGER NOT NULL,  -- token assignments, dropped included
    replicas  INTEGER NOT NULL,
    PRIMARY KEY (run_id, layer, expert)
) WITHOUT ROWID;

-- One directional link over the run (metrics_link).
CREATE TABLE link (
    run_id       INTEGER NOT NULL REFERENCES run (run_id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    bytes        REAL,
    busy_s       REAL,
    utilization  REAL,
    PRIMARY KEY (run_id, name)
) WITHOUT ROWID;

-- Means over the run's steps (metrics_summary): one row per run.
CREATE TABLE summary (
    run_id                     INTEGER PRIMARY KEY REFERENCES run (run_id) ON DELETE CASCADE,
    steps                      INTEGER NOT NULL,
    step_s                     REAL,
    tokens_per_s               REAL,
    tokens_per_s_per_device    REAL,
    tpot_s                     REAL,
    ttft_s                     REAL,
    imbalance_score            REAL,
    device_max_over_mean       REAL,
    expert_max_over_mean       REAL,
    a2a_share                  REAL,
    idle_share                 REAL,
    bytes_inter_node_per_step  REAL,
    bytes_intra_node_per_step  REAL,
    dropped_fraction           REAL,
    mfu                        REAL,
    hbm_needed_bytes           REAL,
    hbm_available_bytes        REAL,
    fits                       INTEGER NOT NULL CHECK (fits IN (0, 1))
);

-- No separate indexes: every row table's primary key starts with run_id,
-- so it serves "WHERE run_id = ?" and ON DELETE CASCADE, and the UNIQUE
-- (policy, seed) of run serves the per-policy lookups of resume and compare.
-- The row tables are WITHOUT ROWID: the rows live in their primary-key
-- b-tree, one b-tree to insert into per row instead of a table and an
-- index (rows are about 150 bytes, well within what SQLite advises for
-- WITHOUT ROWID), and the key still rejects a row the replay sent twice.
