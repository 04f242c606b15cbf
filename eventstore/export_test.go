package eventstore

// GroupCommit reports whether s combines concurrent appends.
func (s *Store) GroupCommit() bool { return s.group != nil }

// GroupState is how many appends wait for a group and how many groups run (tests fill a group
// with it while its leader is held up).
func (s *Store) GroupState() (queued, leaders int) {
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	return len(s.group.queue), s.group.leaders
}

// GroupSoloMax is how many appends run alone at once before the next one queues for a group.
const GroupSoloMax = groupSoloMax

// HoldSecondGroups keeps s to one group in flight however many appends queue, so that a test can
// fill one group behind a held leader.
func (s *Store) HoldSecondGroups() {
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	s.group.startAt = groupMaxAppends + 1
}

// GroupPreparing is how many appends the committer counts as on their way to its queue.
func (s *Store) GroupPreparing() int64 { return s.group.preparing.Load() }
