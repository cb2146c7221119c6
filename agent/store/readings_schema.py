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
    -- ts is unix seconds; one value per stream per instant (a later write at the same instant wins).
    CREATE TABLE readings (
        stream_id INTEGER NOT NULL,
        ts REAL NOT NULL,
        value REAL NOT NULL,
        label TEXT,
        PRIMARY KEY (stream_id, ts)
    ) WITHOUT ROWID;
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
        SELECT datetime(r.ts, 'unixepoch', 'subsec') AS time, s.name AS stream, r.value, r.label,
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
]
