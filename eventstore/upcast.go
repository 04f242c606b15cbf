package eventstore

import (
	"encoding/json"
	"fmt"
)

// Upcaster converts one event type's payload from one schema version to the next.
type Upcaster func(data json.RawMessage) (json.RawMessage, error)

type upcastKey struct {
	eventType string
	from      int
}

// Upcasters is an explicit registry of payload conversions applied when events are read. A stored
// event is never rewritten: an old payload is converted step by step (v1 → v2 → …) each time it is
// read, so the hash chain keeps covering exactly what was written.
//
// Register every upcaster at start-up, before the store is used: the registry is not locked.
type Upcasters struct {
	steps map[upcastKey]Upcaster
}

// NewUpcasters returns an empty registry.
func NewUpcasters() *Upcasters { return &Upcasters{steps: map[upcastKey]Upcaster{}} }

// Register adds the conversion of eventType from schema version from to from+1. Registering the same
// step twice is a programming error and panics.
func (u *Upcasters) Register(eventType string, from int, fn Upcaster) {
	k := upcastKey{eventType, from}
	if _, dup := u.steps[k]; dup {
		panic(fmt.Sprintf("eventstore: upcaster %s v%d registered twice", eventType, from))
	}
	u.steps[k] = fn
}

func (u *Upcasters) apply(e *RecordedEvent) error {
	for {
		fn, ok := u.steps[upcastKey{e.Type, e.SchemaVersion}]
		if !ok {
			return nil
		}
		data, err := fn(e.Data)
		if err != nil {
			return fmt.Errorf("upcast %s %s v%d: %w", e.ID, e.Type, e.SchemaVersion, err)
		}
		e.Data = data
		e.SchemaVersion++
	}
}

func unmarshalMetadata(raw []byte, m *Metadata) error {
	if err := json.Unmarshal(raw, m); err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	return nil
}
