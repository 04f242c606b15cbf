-- Query indexes of the read tables whose definition changed (projections' QueryIndexes, issue 13:
-- plans that stay right at scale): rm_tasks_vN_board_idx now begins with workspace_id,
-- rm_members_vN_name_idx includes the columns MemberPages reads. QueryIndexes are
-- created IF NOT EXISTS, which would keep an earlier definition under the same name: the earlier
-- ones are dropped here, and projections.Ensure creates the new ones in the same start, right
-- after the migrations. Nothing else changes shape, so no projection needs a rebuild.

-- +goose Up
-- +goose StatementBegin
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT c.relname
        FROM pg_index x
        JOIN pg_class c ON c.oid = x.indexrelid
        WHERE c.relnamespace = current_schema()::regnamespace
          AND ((c.relname ~ '^rm_tasks_v[0-9]+_board_idx$' AND pg_get_indexdef(c.oid) !~ '\(workspace_id, project_id')
            OR (c.relname ~ '^rm_members_v[0-9]+_name_idx$' AND pg_get_indexdef(c.oid) !~ 'INCLUDE'))
    LOOP
        EXECUTE format('DROP INDEX %I', r.relname);
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- Nothing: Ensure creates whichever definitions the running code declares, when missing.
SELECT 1;
