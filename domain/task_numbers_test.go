package domain

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/uuid"
)

func TestReserveTaskNumber(t *testing.T) {
	t.Parallel()
	reserve := func(tid uuid.UUID) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) {
			events, n, err := w.numbers.Reserve(w.project, member, tid, now)
			if err == nil && n != events[0].(ProjectTaskNumberReserved).Number {
				t.Errorf("returned number %d differs from the event's", n)
			}
			return events, err
		}
	}
	reserved := func(n int64) []Event {
		return []Event{ProjectTaskNumberReserved{ProjectID: projectID, TaskID: taskID, Number: n, By: "mia", At: now}}
	}
	given := evs(team(), projectCreated())
	run(t, []scenario{
		{name: "first number is 1", given: given, when: reserve(taskID), then: reserved(1)},
		{name: "numbers are dense", given: evs(given, numberReserved(1), numberReserved(2), numberReserved(3)), when: reserve(taskID), then: reserved(4)},
		// Projects created before TaskNumbers: their reservations are on
		// the project stream, and numbering goes on from there.
		{name: "after reservations on the project stream", given: evs(given, legacyReserved(1), legacyReserved(2)), when: reserve(taskID), then: reserved(3)},
		{name: "after reservations on both streams", given: evs(given, legacyReserved(1), legacyReserved(2), numberReserved(3), numberReserved(4)), when: reserve(taskID), then: reserved(5)},
		{name: "the larger of the two streams wins", given: evs(given, legacyReserved(7), numberReserved(3)), when: reserve(taskID), then: reserved(8)},
		{name: "archived project", given: evs(given, numberReserved(1), projectArchived()), when: reserve(taskID), err: CodePreconditionFailed},
		{name: "nil task id", given: given, when: reserve(uuid.Nil), err: CodeInvalidInput},
		{name: "numbers run out", given: evs(given, numberReserved(MaxTaskNumber)), when: reserve(taskID), err: CodePreconditionFailed},
		{name: "numbers run out on the project stream", given: evs(given, legacyReserved(MaxTaskNumber)), when: reserve(taskID), err: CodePreconditionFailed},
	})
}

func TestTaskNumbersLoad(t *testing.T) {
	t.Parallel()
	n, err := RestoreTaskNumbers(projectID, nil, nil)
	if err != nil || n.Version() != 0 || n.Last() != 0 || n.ProjectID() != projectID {
		t.Fatalf("an empty stream is a project without numbers: %+v, %v", n, err)
	}
	n, err = RestoreTaskNumbers(projectID, nil, evs(numberReserved(1), numberReserved(2)))
	if err != nil || n.Version() != 2 || n.Last() != 2 {
		t.Fatalf("got %+v, %v", n, err)
	}
	snap, err := n.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RestoreTaskNumbers(otherID, snap, nil); err == nil {
		t.Error("a snapshot of another project's numbers was restored")
	}
	other := numberReserved(3)
	other.ProjectID = otherID
	for name, es := range map[string][]Event{
		"another project's number": {numberReserved(1), other},
		"another event":            {numberReserved(1), projectArchived()},
		"nil event":                {nil},
	} {
		if _, err := RestoreTaskNumbers(projectID, nil, es); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}

	// Numbers of another project are a programmer error, not a decision.
	w, err := loadWorld(evs(team(), projectCreated()))
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := RestoreTaskNumbers(otherID, nil, nil)
	if _, _, err := foreign.Reserve(w.project, member, taskID, now); !errors.Is(err, errWrongNumbers) {
		t.Errorf("Reserve with another project's numbers: %v", err)
	}
	if _, _, err := CreateTask(w.workspace, w.project, foreign, member, taskID, NewTask{Title: "x"}, now); !errors.Is(err, errWrongNumbers) {
		t.Errorf("CreateTask with another project's numbers: %v", err)
	}
	if _, _, err := CreateTask(w.workspace, w.project, nil, member, taskID, NewTask{Title: "x"}, now); !errors.Is(err, errWrongNumbers) {
		t.Errorf("CreateTask without numbers: %v", err)
	}
	before, _ := w.numbers.Snapshot()
	if _, _, err := w.numbers.Reserve(w.project, member, taskID, now); err != nil {
		t.Fatal(err)
	}
	if after, _ := w.numbers.Snapshot(); !bytes.Equal(before, after) {
		t.Error("Reserve mutated the numbers")
	}
}

// Creations decided one after the other on one load take consecutive
// numbers: each decides on the numbers the previous ones recorded.
func TestTaskNumbersRecorded(t *testing.T) {
	t.Parallel()
	w, err := loadWorld(evs(team(), projectCreated(), numberReserved(1)))
	if err != nil {
		t.Fatal(err)
	}
	numbers := w.numbers
	for want := int64(2); want <= 4; want++ {
		events, n, err := numbers.Reserve(w.project, member, id(int(want)), now)
		if err != nil || n != want {
			t.Fatalf("reserve: number %d, %v; want %d", n, err, want)
		}
		if numbers, err = numbers.Recorded(events); err != nil {
			t.Fatal(err)
		}
		if numbers.Last() != want || numbers.Version() != want {
			t.Fatalf("after %d: last %d, version %d", want, numbers.Last(), numbers.Version())
		}
	}
	if w.numbers.Last() != 1 || w.numbers.Version() != 1 {
		t.Error("Recorded changed the numbers it was called on")
	}
	if _, err := w.numbers.Recorded(evs(projectArchived())); err == nil {
		t.Error("recorded an event that is not a reservation")
	}
}
