-- +goose Up
-- The transactional outbox: a notification is written in the same transaction as the
-- change that causes it, then delivered by any instance's dispatcher.
CREATE TABLE notifications (
    id            TEXT   PRIMARY KEY,
    mch_id        TEXT   NOT NULL,
    format        TEXT   NOT NULL,          -- how the dispatcher renders it: v2_refund, v3
    event_type    TEXT   NOT NULL,
    url           TEXT   NOT NULL,
    payload       BYTEA  NOT NULL,          -- the domain's content; rendered per attempt
    state         TEXT   NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts      BIGINT NOT NULL DEFAULT 0,
    next_at       BIGINT NOT NULL,          -- due time of the next attempt
    lease_until   BIGINT NOT NULL DEFAULT 0,-- an attempt in flight holds the row until then
    lease_owner   TEXT   NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    finished_at   BIGINT
);
CREATE INDEX notifications_due ON notifications (state, next_at);
CREATE INDEX notifications_mch ON notifications (mch_id, created_at);

CREATE TABLE notification_attempts (
    notification_id TEXT   NOT NULL REFERENCES notifications (id),
    n               BIGINT NOT NULL,
    due_at          BIGINT NOT NULL,
    started_at      BIGINT NOT NULL,
    http_status     BIGINT NOT NULL,        -- 0: no answer
    latency_us      BIGINT NOT NULL,
    answer_head     TEXT   NOT NULL,
    error           TEXT   NOT NULL DEFAULT '',
    PRIMARY KEY (notification_id, n)
);

-- +goose Down
DROP TABLE notification_attempts;
DROP TABLE notifications;
