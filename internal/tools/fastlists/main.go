// Command fastlists edits gqlgen's generated executor after each generation (go generate runs it
// right after gqlgen): the marshaler of task lists first offers the list to graph/fastlist, which
// writes it without gqlgen's per-element machinery when the selection allows (see that package).
// gqlgen has no setting for this: its list marshaler always starts a goroutine per element. The
// edit is checked, not guessed: if the generated function is not found exactly once, generation
// fails, so a gqlgen upgrade that renames it is noticed at once.
package main

import (
	"bytes"
	"fmt"
	"go/format"
	"os"
)

const (
	file = "graph/generated/generated.go"
	// The generated marshaler of [Task!]!.
	signature = "func (ec *executionContext) marshalNTask2ᚕᚖgithubᚗcomᚋtaskforgeᚋtaskforgeᚋgraphᚋmodelᚐTaskᚄ(ctx context.Context, sel ast.SelectionSet, v []*model.Task) graphql.Marshaler {\n"
	call      = "\tif m, ok := fastlist.Tasks(ctx, ec.OperationContext, sel, v, taskImplementors, memberImplementors); ok {\n\t\treturn m\n\t}\n"
	imports   = "import (\n"
	pkg       = "\t\"github.com/taskforge/taskforge/graph/fastlist\"\n"
)

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
	if bytes.Contains(src, []byte(call)) {
		return fmt.Errorf("%s has the call already: run gqlgen first", file)
	}
	for _, anchor := range []string{signature, imports} {
		if n := bytes.Count(src, []byte(anchor)); n != 1 {
			return fmt.Errorf("%s: %q found %d times, want once (did gqlgen change its output?)", file, anchor, n)
		}
	}
	src = bytes.Replace(src, []byte(signature), []byte(signature+call), 1)
	src = bytes.Replace(src, []byte(imports), []byte(imports+pkg), 1)
	out, err := format.Source(src)
	if err != nil {
		return err
	}
	return os.WriteFile(file, out, 0o644)
}
