-- ledger.db as written by Hearth 0.1.0 (schema version 1)
PRAGMA user_version = 1;
BEGIN TRANSACTION;
CREATE TABLE config_history (
        version INTEGER PRIMARY KEY,
        applied_at REAL NOT NULL,
        sha256 TEXT NOT NULL,
        status TEXT NOT NULL,
        document TEXT NOT NULL
    );
CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
INSERT INTO "meta" VALUES('hub_id','old-hub');
COMMIT;
