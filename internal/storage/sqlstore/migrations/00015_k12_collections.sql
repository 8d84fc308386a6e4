-- +goose Up
-- K12 face collections: a re-collection request of a signed user, the photo the
-- parent uploaded and its template (both sealed, both dropped once the parent
-- confirms), and when each step happened.
CREATE TABLE k12_collections (
    collection_id    TEXT   NOT NULL PRIMARY KEY,
    organization_id  TEXT   NOT NULL,
    user_id          TEXT   NOT NULL,
    state            TEXT   NOT NULL,
    photo_sealed     BYTEA,
    template_sealed  BYTEA,
    requested_at     BIGINT NOT NULL,
    uploaded_at      BIGINT,
    confirmed_at     BIGINT
);
CREATE INDEX k12_collections_org ON k12_collections (organization_id, requested_at);
CREATE INDEX k12_collections_user ON k12_collections (user_id, state);

-- +goose Down
DROP TABLE k12_collections;
