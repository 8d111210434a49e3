//! Numbered, forward-only migrations. Migration N moves `PRAGMA user_version` from N-1 to N.
//! Never edit a migration that has shipped: add the next one.

/// `PRAGMA application_id` of every Berth database ("BRTH").
pub const APPLICATION_ID: i64 = 0x4252_5448;

pub const MIGRATIONS: &[&str] = &[
    // 1: hosts (config), host_status (live), the mirrored objects, events, sync state.
    r#"
    CREATE TABLE hosts (
        id        INTEGER PRIMARY KEY,
        name      TEXT NOT NULL UNIQUE,
        url       TEXT NOT NULL,
        tls_ca    TEXT,
        tls_cert  TEXT,
        tls_key   TEXT,
        labels    TEXT NOT NULL DEFAULT '{}',
        added_ms  INTEGER NOT NULL
    );

    CREATE TABLE host_status (
        host_id        INTEGER PRIMARY KEY REFERENCES hosts(id) ON DELETE CASCADE,
        status         TEXT NOT NULL CHECK (status IN ('online', 'offline')),
        api_version    TEXT,
        server_version TEXT,
        info           TEXT,
        last_seen_ms   INTEGER,
        last_error     TEXT,
        changed_ms     INTEGER NOT NULL
    );

    CREATE TABLE sync_state (
        host_id          INTEGER PRIMARY KEY REFERENCES hosts(id) ON DELETE CASCADE,
        last_full_ms     INTEGER,
        full_syncs       INTEGER NOT NULL DEFAULT 0,
        last_event_ns    INTEGER
    );

    CREATE TABLE containers (
        host_id      INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
        id           TEXT NOT NULL,
        name         TEXT NOT NULL,
        image        TEXT NOT NULL,
        image_id     TEXT,
        state        TEXT NOT NULL,
        exit_code    INTEGER,
        created_ms   INTEGER NOT NULL,
        started_ms   INTEGER,
        finished_ms  INTEGER,
        health       TEXT,
        labels       TEXT NOT NULL,
        synced_ms    INTEGER NOT NULL,
        UNIQUE (host_id, id)
    );
    CREATE INDEX containers_id ON containers(id);
    CREATE INDEX containers_name ON containers(name);
    CREATE INDEX containers_state ON containers(state);
    CREATE INDEX containers_image ON containers(image);
    CREATE INDEX containers_created ON containers(created_ms);

    -- The full inspect documents (~10 KB each) live apart from the columns views filter on, so
    -- that scanning 10k containers reads 10k small rows, not 100 MB of JSON.
    CREATE TABLE container_inspect (
        host_id       INTEGER NOT NULL,
        container_id  TEXT NOT NULL,
        inspect       TEXT NOT NULL,
        PRIMARY KEY (host_id, container_id),
        FOREIGN KEY (host_id, container_id) REFERENCES containers(host_id, id) ON DELETE CASCADE
    );

    CREATE TABLE container_ips (
        host_id       INTEGER NOT NULL,
        container_id  TEXT NOT NULL,
        network       TEXT NOT NULL,
        ip            TEXT NOT NULL,
        PRIMARY KEY (host_id, container_id, network),
        FOREIGN KEY (host_id, container_id) REFERENCES containers(host_id, id) ON DELETE CASCADE
    ) WITHOUT ROWID;
    CREATE INDEX container_ips_ip ON container_ips(ip);

    CREATE TABLE images (
        host_id     INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
        id          TEXT NOT NULL,
        repo_tags   TEXT NOT NULL,
        created_ms  INTEGER,
        size        INTEGER,
        inspect     TEXT NOT NULL,
        synced_ms   INTEGER NOT NULL,
        UNIQUE (host_id, id)
    );

    CREATE TABLE networks (
        host_id    INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
        id         TEXT NOT NULL,
        name       TEXT NOT NULL,
        driver     TEXT,
        scope      TEXT,
        subnets    TEXT NOT NULL,
        inspect    TEXT NOT NULL,
        synced_ms  INTEGER NOT NULL,
        UNIQUE (host_id, id)
    );
    CREATE INDEX networks_name ON networks(name);

    CREATE TABLE volumes (
        host_id     INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
        name        TEXT NOT NULL,
        driver      TEXT,
        mountpoint  TEXT,
        inspect     TEXT NOT NULL,
        synced_ms   INTEGER NOT NULL,
        UNIQUE (host_id, name)
    );

    CREATE TABLE events (
        seq         INTEGER PRIMARY KEY,
        host_id     INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
        time_ns     INTEGER NOT NULL,
        type        TEXT NOT NULL,
        action      TEXT NOT NULL,
        actor_id    TEXT,
        actor_name  TEXT,
        attributes  TEXT NOT NULL
    );
    -- Replayed events (after a reconnect, `since` overlaps what is stored) are dropped by this key.
    CREATE UNIQUE INDEX events_identity ON events(host_id, time_ns, type, action, ifnull(actor_id, ''));
    "#,
    // 2: options of ssh:// hosts that are not part of the URL (identity, known_hosts, …) as JSON.
    r#"
    ALTER TABLE hosts ADD COLUMN ssh TEXT;
    "#,
    // 3: round trip of the last ping, for the fleet view's latency column.
    r#"
    ALTER TABLE host_status ADD COLUMN rtt_ms REAL;
    "#,
    // 4: IP pools (their definition as the JSON that also labels their Docker networks) and
    // the addresses that are not free: leases, quarantines, reservations. Addresses are 16-byte
    // big-endian numbers (IPv4 in the low 4 bytes), so they sort and range-scan as numbers.
    r#"
    CREATE TABLE ipam_pools (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        spec        TEXT NOT NULL,
        segment     TEXT NOT NULL,
        cursor      BLOB,
        created_ms  INTEGER NOT NULL
    );

    CREATE TABLE ipam_addresses (
        pool_id    INTEGER NOT NULL REFERENCES ipam_pools(id) ON DELETE CASCADE,
        ip         BLOB NOT NULL,
        state      TEXT NOT NULL CHECK (state IN ('leased', 'quarantined', 'reserved')),
        host       TEXT,
        container  TEXT,
        reason     TEXT,
        fixed      INTEGER NOT NULL DEFAULT 0,
        since_ms   INTEGER NOT NULL,
        until_ms   INTEGER,
        PRIMARY KEY (pool_id, ip)
    ) WITHOUT ROWID;
    CREATE INDEX ipam_addresses_container ON ipam_addresses(host, container);
    "#,
    // 5: the audit log (store/audit.rs): append-only rows in a hash chain, the chain's head and
    // anchor (the last pruned row), and the claims of requests in flight. Every index ends in
    // the rowid, so `(host, time_ms)` and `(time_ms)` answer "newest first" without a sort.
    r#"
    CREATE TABLE audit (
        id           INTEGER PRIMARY KEY,
        op           TEXT NOT NULL,
        time_ms      INTEGER NOT NULL,
        actor        TEXT NOT NULL,
        via          TEXT NOT NULL CHECK (via IN ('cli', 'app', 'external')),
        host         TEXT,
        kind         TEXT NOT NULL,
        object_id    TEXT,
        object_name  TEXT,
        action       TEXT NOT NULL,
        outcome      TEXT NOT NULL CHECK (outcome IN ('ok', 'failed', 'unknown')),
        error        TEXT,
        before       TEXT,
        after        TEXT,
        reason       TEXT,
        request      INTEGER,
        hash         TEXT NOT NULL
    );
    CREATE INDEX audit_host_time ON audit(host, time_ms);
    CREATE INDEX audit_time ON audit(time_ms);
    CREATE INDEX audit_op ON audit(op);
    CREATE INDEX audit_object_id ON audit(object_id) WHERE object_id IS NOT NULL;
    CREATE INDEX audit_object_name ON audit(object_name) WHERE object_name IS NOT NULL;
    CREATE INDEX audit_request ON audit(request) WHERE request IS NOT NULL;

    CREATE TABLE audit_chain (
        id           INTEGER PRIMARY KEY CHECK (id = 1),
        head_id      INTEGER NOT NULL,
        head_hash    TEXT NOT NULL,
        anchor_id    INTEGER NOT NULL,
        anchor_hash  TEXT NOT NULL
    );
    INSERT INTO audit_chain (id, head_id, head_hash, anchor_id, anchor_hash) VALUES (
        1, 0, '0000000000000000000000000000000000000000000000000000000000000000',
        0, '0000000000000000000000000000000000000000000000000000000000000000');

    CREATE TABLE audit_claims (
        request      INTEGER PRIMARY KEY,
        host         TEXT NOT NULL,
        object_id    TEXT,
        object_name  TEXT,
        since_ms     INTEGER NOT NULL,
        until_ms     INTEGER NOT NULL
    );
    "#,
    // 6: apps and their revisions (store/apps.rs): each `berth app apply` of a changed file is a
    // new revision holding the file as applied (`keyring:` values stay references).
    r#"
    CREATE TABLE apps (
        name        TEXT PRIMARY KEY,
        created_ms  INTEGER NOT NULL
    );
    CREATE TABLE app_revisions (
        app         TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
        revision    INTEGER NOT NULL,
        spec        TEXT NOT NULL,
        digest      TEXT NOT NULL,
        source      TEXT,
        applied_ms  INTEGER NOT NULL,
        actor       TEXT NOT NULL,
        PRIMARY KEY (app, revision)
    ) WITHOUT ROWID;
    "#,
    // 7: which revision each environment of an app is meant to run (store/apps.rs), set by a
    // deploy, a rollback or a rebuild from the hosts' labels; `app status` measures drift
    // against it.
    r#"
    CREATE TABLE app_deployments (
        app         TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
        env         TEXT NOT NULL,
        revision    INTEGER NOT NULL,
        replicas    INTEGER NOT NULL,
        updated_ms  INTEGER NOT NULL,
        PRIMARY KEY (app, env)
    ) WITHOUT ROWID;
    "#,
    // 8: monitoring (store/metrics.rs): each container's figures over time in tiers (0: every
    // sample, 1: per minute, 2: per ten minutes), avg/min/max per bucket and the counters as at
    // its end; a series per container (its name and app kept, so history outlives the
    // container); and which process collects each host (one across all processes on a store).
    r#"
    CREATE TABLE metric_series (
        id          INTEGER PRIMARY KEY,
        host_id     INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
        container   TEXT NOT NULL,
        name        TEXT NOT NULL,
        app         TEXT,
        env         TEXT,
        last_ms     INTEGER NOT NULL,
        UNIQUE (host_id, container)
    );
    CREATE INDEX metric_series_name ON metric_series(name);
    CREATE TABLE metric_points (
        series      INTEGER NOT NULL REFERENCES metric_series(id) ON DELETE CASCADE,
        tier        INTEGER NOT NULL,
        time_ms     INTEGER NOT NULL,
        n           INTEGER NOT NULL,
        cpu_avg     REAL NOT NULL,
        cpu_min     REAL NOT NULL,
        cpu_max     REAL NOT NULL,
        mem_avg     REAL NOT NULL,
        mem_min     INTEGER NOT NULL,
        mem_max     INTEGER NOT NULL,
        mem_limit   INTEGER NOT NULL,
        net_rx      INTEGER NOT NULL,
        net_tx      INTEGER NOT NULL,
        blk_read    INTEGER NOT NULL,
        blk_write   INTEGER NOT NULL,
        pids        INTEGER NOT NULL,
        PRIMARY KEY (series, tier, time_ms)
    ) WITHOUT ROWID;
    CREATE INDEX metric_points_age ON metric_points(tier, time_ms);
    CREATE TABLE monitor_leases (
        host_id     INTEGER PRIMARY KEY REFERENCES hosts(id) ON DELETE CASCADE,
        holder      TEXT NOT NULL,
        until_ms    INTEGER NOT NULL
    );
    "#,
    // 9: alerts (store/alerts.rs), raised from events by the process that stored the event
    // first: one open alert per key (kind, host, container) until its condition clears.
    r#"
    CREATE TABLE alerts (
        id              INTEGER PRIMARY KEY,
        key             TEXT NOT NULL,
        time_ms         INTEGER NOT NULL,
        host            TEXT NOT NULL,
        container       TEXT,
        container_id    TEXT,
        kind            TEXT NOT NULL,
        exit_code       INTEGER,
        detail          TEXT NOT NULL,
        logs            TEXT,
        open            INTEGER NOT NULL DEFAULT 1,
        acked           INTEGER NOT NULL DEFAULT 0,
        muted_until_ms  INTEGER,
        closed_ms       INTEGER
    );
    CREATE UNIQUE INDEX alerts_open_key ON alerts(key) WHERE open = 1;
    CREATE INDEX alerts_time ON alerts(time_ms);
    -- Rules people set: a threshold from the history (CPU or memory above a percentage for a
    -- while, per container, app or host) or a host offline for longer than a while; and how a
    -- headless Berth passes an alert on (a command or a webhook).
    CREATE TABLE alert_rules (
        id          INTEGER PRIMARY KEY,
        kind        TEXT NOT NULL,
        scope       TEXT NOT NULL,
        name        TEXT,
        threshold   REAL,
        for_s       INTEGER NOT NULL,
        command     TEXT,
        webhook     TEXT,
        created_ms  INTEGER NOT NULL
    );
    "#,
];

pub fn latest() -> i64 {
    MIGRATIONS.len() as i64
}
