-- +goose Up
-- Which pack made a template: scores between two models' templates mean nothing.
ALTER TABLE face_templates ADD COLUMN model TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE face_templates DROP COLUMN model;
