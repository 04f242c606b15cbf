package graph

import (
	"encoding/json"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/graph/model"
	"github.com/taskforge/taskforge/projections"
	"github.com/taskforge/taskforge/sideeffects"
)

func deliveryModel(d sideeffects.Delivery) *model.WebhookDelivery {
	out := &model.WebhookDelivery{ID: strconv.FormatInt(d.ID, 10), WebhookID: d.WebhookID.String(), URL: d.URL,
		EventID: d.EventID.String(), EventType: d.EventType, Status: d.Status, Attempts: d.Attempts,
		LastStatusCode: d.LastStatusCode, NextAttemptAt: d.NextAttemptAt, CreatedAt: d.CreatedAt,
		DeliveredAt: d.DeliveredAt, DeadAt: d.DeadAt}
	if d.LastError != "" {
		out.LastError = &d.LastError
	}
	return out
}

func statusModel(s projections.Status) *model.ProjectionStatus {
	out := &model.ProjectionStatus{Name: s.Name, ActiveVersion: s.ActiveVersion, BuildingVersion: s.BuildingVersion,
		State: s.State, Position: s.Position.String(), EventsHandled: int(s.EventsHandled),
		LagEvents: int(s.LagEvents), LagSeconds: s.LagSeconds, Parked: int(s.Parked), UpdatedAt: s.UpdatedAt}
	if s.LastError != "" {
		e := errorClass(s.LastError)
		out.LastError = &e
	}
	return out
}

// lastErrorShape is how the projection runner records a failure: "event <id> (<type> at position
// <n>): <the handler's error>". The handler's error may quote the event's data (a constraint
// violation's "Key (title)=(…)", a decoding error's input), which is another tenant's.
var (
	lastErrorShape = regexp.MustCompile(`^event \S+ \(([a-z0-9_.]+) at position \d+\)`)
	sqlState       = regexp.MustCompile(`SQLSTATE ([0-9A-Z]{5})`)
)

// errorClass reduces a projection's recorded error to its class: the event type and an error
// code (SQLSTATE), never a value from the event or the database.
func errorClass(msg string) string {
	class := "projection handler failed"
	if m := lastErrorShape.FindStringSubmatch(msg); m != nil {
		class = m[1] + ": " + class
	}
	if m := sqlState.FindStringSubmatch(msg); m != nil {
		class += " (SQLSTATE " + m[1] + ")"
	}
	return class
}

// board groups tasks (in rank order) by status, in the workflow's order; statuses unknown to the
// workflow (a workflow changed since) come last, by name.
func board(statuses []model.BoardColumn, tasks []*model.Task) []*model.BoardColumn {
	vals := make([]model.BoardColumn, len(statuses))
	cols := make([]*model.BoardColumn, len(statuses), len(statuses)+1)
	for i, s := range statuses {
		vals[i] = s
		vals[i].Tasks = []*model.Task{}
		cols[i] = &vals[i]
	}
	var extra []*model.BoardColumn
	for _, t := range tasks {
		var c *model.BoardColumn
		for _, col := range cols {
			if col.Status == t.Status {
				c = col
				break
			}
		}
		if c == nil {
			for _, col := range extra {
				if col.Status == t.Status {
					c = col
					break
				}
			}
		}
		if c == nil {
			c = &model.BoardColumn{Status: t.Status, Name: t.Status, Category: model.StatusCategoryTodo, Tasks: []*model.Task{}}
			extra = append(extra, c)
		}
		c.Tasks = append(c.Tasks, t)
	}
	sort.Slice(extra, func(i, j int) bool { return extra[i].Status < extra[j].Status })
	return append(cols, extra...)
}

// workflowCache keeps parsed workflows by their JSON text: a board is read far more often than
// its workflow changes, and a few workflows serve most projects. Its zero value is ready.
type workflowCache struct {
	mu sync.RWMutex
	m  map[string][]model.BoardColumn
}

// maxWorkflows bounds a workflowCache (it starts over when full).
const maxWorkflows = 1024

// columns returns a workflow's columns (no tasks, not to be modified), in its order: the default
// workflow's for none or an invalid one.
func (c *workflowCache) columns(workflow []byte) []model.BoardColumn {
	c.mu.RLock()
	cols, ok := c.m[string(workflow)]
	c.mu.RUnlock()
	if ok {
		return cols
	}
	var wf domain.Workflow
	if err := json.Unmarshal(workflow, &wf); err != nil || len(wf.Statuses) == 0 {
		wf = domain.DefaultWorkflow()
	}
	cols = make([]model.BoardColumn, len(wf.Statuses))
	for i, s := range wf.Statuses {
		cols[i] = model.BoardColumn{Status: s.ID, Name: s.Name, Category: model.StatusCategory(strings.ToUpper(string(s.Category)))}
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxWorkflows {
		c.m = make(map[string][]model.BoardColumn)
	}
	c.m[string(workflow)] = cols
	c.mu.Unlock()
	return cols
}

// parseDeadCursor reads a dead-letter page's after argument (sideeffects owns the format).
func parseDeadCursor(after *string) (sideeffects.DeadLetterCursor, error) {
	if after == nil {
		return sideeffects.DeadLetterCursor{}, nil
	}
	c, err := sideeffects.ParseDeadLetterCursor(*after)
	if err != nil {
		return c, domain.InvalidInput("after", "not a valid cursor")
	}
	return c, nil
}
