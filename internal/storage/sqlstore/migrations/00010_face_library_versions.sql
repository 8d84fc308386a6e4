-- +goose Up
-- A counter per face library, bumped in the transaction of every enrolment and
-- deletion, so that every process holding the library in memory (serve, admin
-- commands, several instances) sees a change and reloads.
CREATE TABLE face_library_versions (
    library TEXT   NOT NULL PRIMARY KEY,
    version BIGINT NOT NULL
);

-- +goose Down
DROP TABLE face_library_versions;
