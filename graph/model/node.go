package model

// The read side's bound objects are Nodes (schema.graphqls): their id is their global id.

func (Workspace) IsNode()            {}
func (w Workspace) GetID() string    { return w.ID }
func (Project) IsNode()              {}
func (p Project) GetID() string      { return p.ID }
func (Task) IsNode()                 {}
func (t Task) GetID() string         { return t.ID }
func (Notification) IsNode()         {}
func (n Notification) GetID() string { return n.ID }
