-- +goose Up
-- A person may have several templates, one per enrolment photo: seq numbers them.
-- The primary key changes, which SQLite can only do by rebuilding the table; the
-- same statements do it on PostgreSQL. Existing templates become seq 0, whose
-- sealing purpose is unchanged.
CREATE TABLE face_templates_v7 (
    library       TEXT   NOT NULL,
    person_id     TEXT   NOT NULL,
    seq           BIGINT NOT NULL,
    phone_tail    TEXT   NOT NULL DEFAULT '',
    model         TEXT   NOT NULL DEFAULT '',
    dim           BIGINT NOT NULL,
    vector_sealed BYTEA  NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (library, person_id, seq)
);
INSERT INTO face_templates_v7 (library, person_id, seq, phone_tail, model, dim, vector_sealed, created_at)
    SELECT library, person_id, 0, phone_tail, model, dim, vector_sealed, created_at FROM face_templates;
DROP TABLE face_templates;
ALTER TABLE face_templates_v7 RENAME TO face_templates;

-- +goose Down
CREATE TABLE face_templates_v6 (
    library       TEXT   NOT NULL,
    person_id     TEXT   NOT NULL,
    phone_tail    TEXT   NOT NULL DEFAULT '',
    model         TEXT   NOT NULL DEFAULT '',
    dim           BIGINT NOT NULL,
    vector_sealed BYTEA  NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (library, person_id)
);
INSERT INTO face_templates_v6 (library, person_id, phone_tail, model, dim, vector_sealed, created_at)
    SELECT library, person_id, phone_tail, model, dim, vector_sealed, created_at FROM face_templates WHERE seq = 0;
DROP TABLE face_templates;
ALTER TABLE face_templates_v6 RENAME TO face_templates;
