"""Schema of the readings file, one script per version (append only, never edit a shipped one)."""

MIGRATIONS: list[str] = [
    # 1: devices, streams, raw readings, rollups, source health.
    """
    CREATE TABLE devices (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        address TEXT,
        model TEXT,
        adopted_at TEXT NOT NULL,
        meta TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE streams (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
        quantity TEXT NOT NULL,
        unit TEXT NOT NULL DEFAULT '',
        kind TEXT NOT NULL DEFAULT 'sensor'
    );
    -- One row per reading, keyed by time first: key = (unix milliseconds << 20) | stream_id.
    -- New readings therefore append to the table's last page (SQLite's fast append path), so a
    -- commit writes about one page, not one per stream: that is what keeps SD-card wear low.
    -- ts and stream_id are derived (stored nowhere); query time ranges on key for speed.
    CREATE TABLE readings (
        key INTEGER PRIMARY KEY,
        value REAL NOT NULL,
        label TEXT,
        ts REAL GENERATED ALWAYS AS ((key >> 20) / 1000.0) VIRTUAL,
        stream_id INTEGER GENERATED ALWAYS AS (key & 1048575) VIRTUAL
    );
    -- period is 60 (minute) or 3600 (hour); start is the window start in unix seconds.
    CREATE TABLE rollups (
        stream_id INTEGER NOT NULL,
        period INTEGER NOT NULL,
        start REAL NOT NULL,
        count INTEGER NOT NULL,
        sum REAL NOT NULL,
        min REAL NOT NULL,
        max REAL NOT NULL,
        PRIMARY KEY (stream_id, period, start)
    ) WITHOUT ROWID;
    CREATE TABLE source_health (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        restarts INTEGER NOT NULL,
        accepted INTEGER NOT NULL,
        dropped INTEGER NOT NULL,
        last_error TEXT,
        stats TEXT NOT NULL DEFAULT '{}',
        updated_at REAL NOT NULL
    );
    CREATE VIEW reading_log AS
        SELECT strftime('%Y-%m-%d %H:%M:%f', r.ts, 'unixepoch') AS time, s.name AS stream, r.value, r.label,
               s.unit
        FROM readings r JOIN streams s ON s.id = r.stream_id;
    CREATE VIEW rollup_log AS
        SELECT datetime(u.start, 'unixepoch') AS start,
               CASE u.period WHEN 60 THEN 'minute' WHEN 3600 THEN 'hour' ELSE u.period END AS period,
               s.name AS stream, u.count, u.sum / u.count AS mean, u.min, u.max, s.unit
        FROM rollups u JOIN streams s ON s.id = u.stream_id;
    """,
    # 2: BLE devices the owner adopted; only these are ever recorded. bindkey is a secret (hex).
    """
    CREATE TABLE ble_adoptions (
        address TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        bindkey TEXT,
        adopted_at TEXT NOT NULL
    );
    """,
    # 3: stream ids are never reused. A reading's key carries its stream id, so a reused id would hand
    # a forgotten stream's leftovers (or a running recorder's late writes) to the next new stream:
    # AUTOINCREMENT keeps ids rising. Readings and rollups that belong to no stream are erased.
    """
    DROP VIEW reading_log;
    DROP VIEW rollup_log;
    CREATE TABLE streams_v3 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
        quantity TEXT NOT NULL,
        unit TEXT NOT NULL DEFAULT '',
        kind TEXT NOT NULL DEFAULT 'sensor'
    );
    INSERT INTO streams_v3 (id, name, device_id, quantity, unit, kind)
        SELECT id, name, device_id, quantity, unit, kind FROM streams;
    DROP TABLE streams;
    ALTER TABLE streams_v3 RENAME TO streams;
    DELETE FROM readings WHERE stream_id NOT IN (SELECT id FROM streams);
    DELETE FROM rollups WHERE stream_id NOT IN (SELECT id FROM streams);
    CREATE VIEW reading_log AS
        SELECT strftime('%Y-%m-%d %H:%M:%f', r.ts, 'unixepoch') AS time, s.name AS stream, r.value, r.label,
               s.unit
        FROM readings r JOIN streams s ON s.id = r.stream_id;
    CREATE VIEW rollup_log AS
        SELECT datetime(u.start, 'unixepoch') AS start,
               CASE u.period WHEN 60 THEN 'minute' WHEN 3600 THEN 'hour' ELSE u.period END AS period,
               s.name AS stream, u.count, u.sum / u.count AS mean, u.min, u.max, s.unit
        FROM rollups u JOIN streams s ON s.id = u.stream_id;
    """,
    # 4: what the forecasters learned, one row per forecast stream (agent.store.forecasts); ``fingerprint``
    # names the settings it was learned with (step, horizons, time zone): another one is rebuilt from history.
    """
    CREATE TABLE forecast_state (
        stream TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        state BLOB NOT NULL,
        saved_at REAL NOT NULL
    );
    """,
    # 5: the model version that made a context reading (0: as shipped; agent.learning.versions). NULL for
    # every other reading, and for context readings stored before versions were recorded. Adding a column
    # rewrites nothing: old rows read it as NULL.
    """
    ALTER TABLE readings ADD COLUMN version INTEGER;
    """,
]
