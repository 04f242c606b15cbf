package commands

import "github.com/google/uuid"

// QueuedCreations returns how many creations in project wait in rt for a
// batch: tests wait for it to know that creations queued behind a held one.
func (rt *Runtime) QueuedCreations(project uuid.UUID) int {
	rt.creations.mu.Lock()
	defer rt.creations.mu.Unlock()
	if cq := rt.creations.m[project]; cq != nil {
		return len(cq.pending)
	}
	return 0
}
