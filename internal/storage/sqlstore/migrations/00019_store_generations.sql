-- +goose Up
-- Generations of what processes cache. On SQLite, where another process (an admin
-- command) may write the same file and there is no NOTIFY, a write that changes a
-- cached merchant (an appid bound, the platform mode) moves 'merchants' on in its
-- transaction; each process polls the number and empties its cache when it moves.
-- PostgreSQL stores NOTIFY instead and leave the row alone.
CREATE TABLE store_generations (
    name TEXT   NOT NULL PRIMARY KEY,
    gen  BIGINT NOT NULL
);
INSERT INTO store_generations (name, gen) VALUES ('merchants', 0);

-- +goose Down
DROP TABLE store_generations;
