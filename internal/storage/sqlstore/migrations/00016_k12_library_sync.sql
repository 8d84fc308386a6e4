-- +goose Up
-- What offline kiosks sync: every change to a school's user that a kiosk must know
-- (face, contract, status, phone) is a numbered entry of the school's log, written in
-- the change's transaction; a kiosk asks for what came after the version it holds.
CREATE TABLE k12_sync_versions (
    organization_id TEXT   NOT NULL PRIMARY KEY,
    version         BIGINT NOT NULL
);
CREATE TABLE k12_sync_log (
    organization_id TEXT   NOT NULL,
    version         BIGINT NOT NULL,
    user_id         TEXT   NOT NULL,
    PRIMARY KEY (organization_id, version)
);

-- +goose Down
DROP TABLE k12_sync_log;
DROP TABLE k12_sync_versions;
