-- taskforge_session_alive says whether a lease session (internal/cluster: a worker's connection
-- on the direct URL, named by pid and backend_start) is still connected. It is the one liveness
-- test of leases, node membership and delivery claims.
--
-- pg_stat_activity shows another role's sessions with a NULL backend_start unless the reader is
-- a member of pg_read_all_stats: two workers connecting as different roles took each other for
-- dead, and the unprivileged one ran every consumer. A hidden session now counts as alive when
-- its pid is connected. Only the pid is then checked: if that session ends and a new backend
-- reuses its pid, its leases are taken when they expire (LEASE_TTL) rather than at the next check.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION taskforge_session_alive(p_pid int, p_start timestamptz) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT EXISTS (SELECT 1 FROM pg_stat_activity a
                   WHERE a.pid = p_pid AND (a.backend_start = p_start OR a.backend_start IS NULL))
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION taskforge_session_alive(int, timestamptz);
