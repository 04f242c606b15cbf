package domain

import (
	"errors"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// allEvents lists one value of every event type the package defines. A new
// event type must be added here; TestRegistryKnowsEveryEvent then checks that
// it is registered too.
func allEvents() []Event {
	return []Event{
		UserRegistered{}, UserProfileUpdated{},
		WorkspaceCreated{}, WorkspaceRenamed{}, WorkspaceMemberInvited{}, WorkspaceInvitationRevoked{},
		WorkspaceMemberJoined{}, WorkspaceMemberRoleChanged{}, WorkspaceMemberRemoved{},
		WorkspaceProjectKeyReserved{}, WebhookRegistered{}, WebhookUpdated{}, WebhookRemoved{}, WebhookSecretRotated{},
		ProjectCreated{}, ProjectRenamed{}, ProjectArchived{}, ProjectUnarchived{},
		ProjectWorkflowDefined{}, ProjectTaskNumberReserved{},
		TaskCreated{}, TaskTitleChanged{}, TaskDescriptionChanged{}, TaskPriorityChanged{},
		TaskDueDateChanged{}, TaskLabelsChanged{}, TaskStatusChanged{}, TaskAssigned{}, TaskUnassigned{},
		TaskReordered{}, TaskCommentAdded{}, TaskCommentEdited{}, TaskCommentDeleted{},
		TaskArchived{}, TaskRestored{},
		MemberTaskAssigned{}, MemberTaskUnassigned{}, MemberAssignmentsReleased{},
	}
}

func TestRegistryKnowsEveryEvent(t *testing.T) {
	t.Parallel()
	reg := NewRegistry()
	var names []string
	for _, e := range allEvents() {
		names = append(names, e.EventType())
		want := 1
		if _, upcast := WebhookUpcasts()[e.EventType()]; upcast {
			want = 2 // the secret left the log
		}
		if v, ok := reg.SchemaVersion(e.EventType()); !ok || v != want {
			t.Errorf("%T (%s): schema version %d, registered %v", e, e.EventType(), v, ok)
		}
	}
	slices.Sort(names)
	if got := reg.Types(); !reflect.DeepEqual(got, names) {
		t.Fatalf("registered types differ from the event types\n got: %v\nwant: %v", got, names)
	}
	if !slices.IsSorted(reg.Types()) {
		t.Fatal("Types must be sorted")
	}
	if _, ok := reg.SchemaVersion("task.exploded"); ok {
		t.Fatal("unknown type has a schema version")
	}
}

var eventNamePattern = regexp.MustCompile(`^(user|workspace|webhook|project|task|member)\.[a-z]+(_[a-z]+)*$`)

func TestEventNamesAreStable(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, e := range allEvents() {
		name := e.EventType()
		if !eventNamePattern.MatchString(name) || seen[name] {
			t.Errorf("%T: bad or duplicate event name %q", e, name)
		}
		seen[name] = true
	}
	// Spot-check names against the stored contract: they are constants,
	// never derived from Go type names.
	for _, c := range []struct {
		e    Event
		want string
	}{
		{TaskStatusChanged{}, "task.status_changed"},
		{WorkspaceProjectKeyReserved{}, "workspace.project_key_reserved"},
		{ProjectTaskNumberReserved{}, "project.task_number_reserved"},
		{WebhookRegistered{}, "webhook.registered"},
		{TaskUnassigned{}, "task.unassigned"},
	} {
		e, want := c.e, c.want
		if e.EventType() != want {
			t.Errorf("%T is %q, want %q", e, e.EventType(), want)
		}
	}
}

// TestEventsRoundTrip fills every field of every event with a non-zero value
// and checks it survives Encode/Decode unchanged.
func TestEventsRoundTrip(t *testing.T) {
	t.Parallel()
	reg := NewRegistry()
	for _, e := range allEvents() {
		v := reflect.New(reflect.TypeOf(e)).Elem()
		fill(t, v, 1)
		full := v.Interface().(Event)
		roundTrip(t, reg, full)
		roundTrip(t, reg, e) // zero values too
	}
}

// fill sets every field reachable from v to a non-zero value.
func fill(t testing.TB, v reflect.Value, seed int) {
	t.Helper()
	switch v.Type() {
	case reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(time.Date(2025, 6, 7, 8, 9, 10, 11, time.UTC).Add(time.Duration(seed) * time.Hour)))
		return
	case reflect.TypeFor[uuid.UUID]():
		v.Set(reflect.ValueOf(id(seed)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("s" + strings.Repeat("x", seed))
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(seed))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(t, p.Elem(), seed)
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		fill(t, s.Index(0), seed+1)
		fill(t, s.Index(1), seed+2)
		v.Set(s)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(t, v.Field(i), seed+i)
		}
	default:
		t.Fatalf("fill: unsupported kind %s", v.Kind())
	}
}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

func TestEventFieldsHaveSnakeCaseTags(t *testing.T) {
	t.Parallel()
	var check func(typ reflect.Type, path string)
	check = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ == reflect.TypeFor[time.Time]() {
			return
		}
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !snakeCase.MatchString(name) {
				t.Errorf("%s.%s: json tag %q is not snake_case", path, f.Name, f.Tag.Get("json"))
			}
			check(f.Type, path+"."+f.Name)
		}
	}
	for _, e := range allEvents() {
		check(reflect.TypeOf(e), reflect.TypeOf(e).Name())
	}
}

func TestRegistryDecodeErrors(t *testing.T) {
	t.Parallel()
	reg := NewRegistry()
	if _, err := reg.Decode("task.exploded", 1, []byte(`{}`)); !errors.Is(err, ErrUnknownEventType) {
		t.Errorf("unknown type: %v", err)
	}
	for _, v := range []int{0, 2} {
		if _, err := reg.Decode(EventTaskCreated, v, []byte(`{}`)); !errors.Is(err, ErrSchemaVersion) {
			t.Errorf("schema version %d: %v", v, err)
		}
	}
	if _, err := reg.Decode(EventTaskCreated, 1, []byte(`{"title": 3}`)); err == nil {
		t.Error("malformed data decoded")
	}
	e, err := reg.Decode(EventTaskStatusChanged, 1, []byte(`{"task_id":"00000000-0000-4000-8000-000000000003","from":"todo","to":"done","by":"mia","at":"2025-03-01T09:00:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := (TaskStatusChanged{TaskID: taskID, From: "todo", To: "done", By: "mia", At: t0}); !reflect.DeepEqual(e, want) {
		t.Fatalf("decoded %#v", e)
	}
}

type unregisteredEvent struct{}

func (unregisteredEvent) EventType() string { return "task.unregistered" }

type impostorEvent struct{}

func (impostorEvent) EventType() string { return EventTaskCreated }

func TestRegistryEncodeErrors(t *testing.T) {
	t.Parallel()
	reg := NewRegistry()
	for name, e := range map[string]Event{
		"nil":               nil,
		"unregistered type": unregisteredEvent{},
		"pointer":           &TaskCreated{},
		"impostor":          impostorEvent{},
	} {
		if _, _, _, err := reg.Encode(e); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
	typ, v, data, err := reg.Encode(TaskArchived{TaskID: taskID, ProjectID: projectID, By: "mia", At: t0})
	if err != nil || typ != EventTaskArchived || v != 1 ||
		string(data) != `{"task_id":"00000000-0000-4000-8000-000000000003","project_id":"00000000-0000-4000-8000-000000000002","by":"mia","at":"2025-03-01T09:00:00Z"}` {
		t.Fatalf("Encode = %s %d %s %v", typ, v, data, err)
	}
}

func TestRegistryRefusesProgrammerErrors(t *testing.T) {
	t.Parallel()
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s: no panic", name)
			}
		}()
		f()
	}
	mustPanic("same name twice", func() {
		r := NewRegistry()
		r.register(entry[TaskCreated](EventTaskCreated, 1))
	})
	mustPanic("name differs from EventType", func() {
		r := &Registry{entries: map[string]registration{}}
		r.register(entry[TaskCreated](EventTaskArchived, 1))
	})
	mustPanic("version 0", func() {
		r := &Registry{entries: map[string]registration{}}
		r.register(entry[TaskCreated](EventTaskCreated, 0))
	})
}

func TestWebhookEventTypes(t *testing.T) {
	t.Parallel()
	types := WebhookEventTypes()
	if !slices.IsSorted(types) || !slices.Contains(types, EventTaskCreated) || !slices.Contains(types, EventWorkspaceMemberJoined) {
		t.Fatalf("WebhookEventTypes = %v", types)
	}
	for _, typ := range types {
		if strings.HasPrefix(typ, "webhook.") || strings.HasPrefix(typ, "user.") || strings.HasPrefix(typ, "member.") {
			t.Fatalf("%s must not be deliverable", typ)
		}
	}
	if len(types) != len(NewRegistry().Types())-9 {
		t.Fatalf("want every type but the webhook, user and member ones, got %d", len(types))
	}
}
