-- +goose Up
-- Face templates, sealed: vector_sealed is AES-GCM over the little-endian float32
-- vector, bound to (library, person_id).
CREATE TABLE face_templates (
    library       TEXT   NOT NULL,
    person_id     TEXT   NOT NULL,
    phone_tail    TEXT   NOT NULL DEFAULT '',
    dim           BIGINT NOT NULL,
    vector_sealed BYTEA  NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (library, person_id)
);

-- +goose Down
DROP TABLE face_templates;
