// Command fastlists edits gqlgen's generated executor after each generation (go generate runs it
// right after gqlgen): the marshalers of task lists and task edge lists first offer the list to
// graph/fastlist, which writes it without gqlgen's per-element machinery when the selection allows
// (see that package). gqlgen has no setting for this: its list marshaler always starts a goroutine
// per element. The edit is checked, not guessed: if a generated function is not found exactly
// once, generation fails, so a gqlgen upgrade that renames it is noticed at once.
package main

import (
	"bytes"
	"fmt"
	"go/format"
	"os"
)

const (
	file    = "graph/generated/generated.go"
	imports = "import (\n"
	pkg     = "\t\"github.com/taskforge/taskforge/graph/fastlist\"\n"
	// Handed to fastlist by every call: the implementors of the types it writes.
	types = "\n// fastTypes are the implementors of the types graph/fastlist writes (internal/tools/fastlists).\n" +
		"var fastTypes = fastlist.Types{Task: taskImplementors, TaskEdge: taskEdgeImplementors, " +
		"Member: memberImplementors, Project: projectImplementors}\n"
)

// edits are the generated list marshalers and the call each makes first.
var edits = []struct{ signature, call string }{
	{ // [Task!]!
		"func (ec *executionContext) marshalNTask2ᚕᚖgithubᚗcomᚋtaskforgeᚋtaskforgeᚋgraphᚋmodelᚐTaskᚄ(ctx context.Context, sel ast.SelectionSet, v []*model.Task) graphql.Marshaler {\n",
		"\tif m, ok := fastlist.Tasks(ctx, ec.OperationContext, sel, v, fastTypes); ok {\n\t\treturn m\n\t}\n",
	},
	{ // [TaskEdge!]!
		"func (ec *executionContext) marshalNTaskEdge2ᚕᚖgithubᚗcomᚋtaskforgeᚋtaskforgeᚋgraphᚋmodelᚐTaskEdgeᚄ(ctx context.Context, sel ast.SelectionSet, v []*model.TaskEdge) graphql.Marshaler {\n",
		"\tif m, ok := fastlist.TaskEdges(ctx, ec.OperationContext, sel, v, fastTypes); ok {\n\t\treturn m\n\t}\n",
	},
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fastlists:", err)
		os.Exit(1)
	}
}

func run() error {
	src, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if bytes.Contains(src, []byte("fastlist.")) {
		return fmt.Errorf("%s calls fastlist already: run gqlgen first", file)
	}
	if n := bytes.Count(src, []byte(imports)); n != 1 {
		return fmt.Errorf("%s: %d import blocks, want 1", file, n)
	}
	src = bytes.Replace(src, []byte(imports), []byte(imports+pkg), 1)
	for _, e := range edits {
		if n := bytes.Count(src, []byte(e.signature)); n != 1 {
			return fmt.Errorf("%s: %q found %d times, want once (did gqlgen change its output?)", file, e.signature, n)
		}
		src = bytes.Replace(src, []byte(e.signature), []byte(e.signature+e.call), 1)
	}
	src = append(src, types...)
	out, err := format.Source(src)
	if err != nil {
		return err
	}
	return os.WriteFile(file, out, 0o644)
}
