-- readings.db as written by Hearth 0.1.0 (schema version 1)
PRAGMA user_version = 1;
BEGIN TRANSACTION;
CREATE TABLE devices (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        address TEXT,
        model TEXT,
        adopted_at TEXT NOT NULL,
        meta TEXT NOT NULL DEFAULT '{}'
    );
INSERT INTO "devices" VALUES(1,'living_room','simulated',NULL,NULL,'2026-11-24T02:20:03+00:00','{}');
INSERT INTO "devices" VALUES(2,'kitchen_plug','simulated',NULL,NULL,'2026-11-24T02:20:03+00:00','{}');
CREATE TABLE readings (
        key INTEGER PRIMARY KEY,
        value REAL NOT NULL,
        label TEXT,
        ts REAL GENERATED ALWAYS AS ((key >> 20) / 1000.0) VIRTUAL,
        stream_id INTEGER GENERATED ALWAYS AS (key & 1048575) VIRTUAL
    );
INSERT INTO "readings" VALUES(1782579200000000001,20.0,NULL);
INSERT INTO "readings" VALUES(1782579200000000002,1950.0,NULL);
INSERT INTO "readings" VALUES(1782579262914560001,20.1,NULL);
INSERT INTO "readings" VALUES(1782579262914560002,1950.0,NULL);
INSERT INTO "readings" VALUES(1782579325829120001,20.2,NULL);
INSERT INTO "readings" VALUES(1782579325829120002,1950.0,NULL);
INSERT INTO "readings" VALUES(1782579388743680001,20.3,NULL);
INSERT INTO "readings" VALUES(1782579451658240001,20.4,NULL);
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
INSERT INTO "source_health" VALUES('living_room','simulated','running',0,5,0,NULL,'{}',1.79548680357663559912e+09);
CREATE TABLE streams (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
        quantity TEXT NOT NULL,
        unit TEXT NOT NULL DEFAULT '',
        kind TEXT NOT NULL DEFAULT 'sensor'
    );
INSERT INTO "streams" VALUES(1,'living_room.temperature',1,'temperature','°C','sensor');
INSERT INTO "streams" VALUES(2,'kitchen_plug.power',2,'power','W','sensor');
CREATE VIEW reading_log AS
        SELECT strftime('%Y-%m-%d %H:%M:%f', r.ts, 'unixepoch') AS time, s.name AS stream, r.value, r.label,
               s.unit
        FROM readings r JOIN streams s ON s.id = r.stream_id;
CREATE VIEW rollup_log AS
        SELECT datetime(u.start, 'unixepoch') AS start,
               CASE u.period WHEN 60 THEN 'minute' WHEN 3600 THEN 'hour' ELSE u.period END AS period,
               s.name AS stream, u.count, u.sum / u.count AS mean, u.min, u.max, s.unit
        FROM rollups u JOIN streams s ON s.id = u.stream_id;
COMMIT;
