-- Schema revisions of read models (projections.Projection.Revision).
--
-- A release that changes the shape of a projection's tables (a column, a new table) raises the
-- projection's revision in code. The registry records the revision of the active version and of
-- the one being built, so that a start of the new release sees that the tables it would read are
-- of an older shape and rebuilds them (app.New) before serving, instead of failing on a missing
-- column. Existing installations are revision 1, the shape every projection had before this.

-- +goose Up
ALTER TABLE projection_versions
    ADD COLUMN active_revision int NOT NULL DEFAULT 1,
    ADD COLUMN building_revision int;

-- +goose Down
ALTER TABLE projection_versions DROP COLUMN building_revision, DROP COLUMN active_revision;
