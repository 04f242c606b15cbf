package eventstore

// QueuedAppends is how many appends wait for a group (a test fills one group with it).
func (s *Store) QueuedAppends() int {
	if s.group == nil {
		return 0
	}
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	return len(s.group.queue)
}

// GroupCommit reports whether s combines concurrent appends.
func (s *Store) GroupCommit() bool { return s.group != nil }

// GroupLeaders is how many groups run at once.
const GroupLeaders = groupLeaders
