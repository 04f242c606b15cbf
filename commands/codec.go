package commands

import (
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
)

// Codec converts domain events to the event store's form and back, by their
// registered names and schema versions.
type Codec struct {
	reg *domain.Registry
}

// NewCodec returns a codec over reg.
func NewCodec(reg *domain.Registry) (*Codec, error) {
	if reg == nil {
		return nil, errors.New("commands: nil registry")
	}
	return &Codec{reg: reg}, nil
}

// Encode returns e as an event to append, with id and meta.
func (c *Codec) Encode(id uuid.UUID, e domain.Event, meta eventstore.Metadata) (eventstore.EventData, error) {
	typ, version, data, err := c.reg.Encode(e)
	if err != nil {
		return eventstore.EventData{}, err
	}
	return eventstore.EventData{ID: id, Type: typ, SchemaVersion: version, Data: data, Metadata: meta}, nil
}

// Decode returns the domain event stored as e (already upcast by the store).
func (c *Codec) Decode(e eventstore.RecordedEvent) (domain.Event, error) {
	de, err := c.reg.Decode(e.Type, e.SchemaVersion, e.Data)
	if err != nil {
		return nil, fmt.Errorf("event %s at %s v%d: %w", e.ID, e.StreamID, e.StreamVersion, err)
	}
	return de, nil
}

// DecodeAll decodes events in order.
func (c *Codec) DecodeAll(events []eventstore.RecordedEvent) ([]domain.Event, error) {
	out := make([]domain.Event, 0, len(events))
	for _, e := range events {
		de, err := c.Decode(e)
		if err != nil {
			return nil, err
		}
		out = append(out, de)
	}
	return out, nil
}

// Upcasters returns the event store's conversions of the domain's older event schema versions.
// Every store whose events are decoded or shown must be built with them: without, a version-1
// webhook event does not decode at all (it fails closed), and its secret would show in raw reads.
func Upcasters() *eventstore.Upcasters {
	up := eventstore.NewUpcasters()
	for eventType, fn := range domain.WebhookUpcasts() {
		up.Register(eventType, 1, fn)
	}
	return up
}
