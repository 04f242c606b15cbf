package taskforge_test

// The house's floors, as import rules (issue 10, STYLE.md "layering is encoded"): each package
// of the module may import only the module packages listed for it. A new package needs a rule
// here before it builds a dependency, so the shape stays a decision rather than an accident.
// The rules run on `go list`, so they see exactly what the compiler sees, test files included
// (a test importing upward is a layering fault too, except the composition root's harness,
// which tests of the floors above it may use).

import (
	"encoding/json"
	"io"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/taskforge/taskforge"

// leaves are the internal/ packages: mechanisms that import nothing above them.
var leaves = []string{"internal/auth", "internal/config", "internal/database", "internal/observability",
	"internal/server", "internal/pgtest", "internal/promtest", "internal/webhooksecrets", "internal/cursor", "internal/cluster", "internal/readcache"}

// rules maps a package (or a prefix ending in "/...") to the module packages it may import.
// "internal/*" stands for the leaves.
var rules = map[string][]string{
	"domain":     {},
	"migrations": {},
	// Leaves: the standard library, drivers, and each other; the domain's pure rules at most.
	"internal/auth":           {},
	"internal/config":         {"internal/webhooksecrets"},
	"internal/database":       {"migrations"},
	"internal/observability":  {},
	"internal/server":         {},
	"internal/pgtest":         {"internal/database"},
	"internal/promtest":       {},
	"internal/webhooksecrets": {"domain"},
	"internal/cursor":         {},
	"internal/cluster":        {},
	"internal/readcache":      {"internal/promtest"},

	"eventstore":      {"domain", "internal/*"},
	"eventstore/feed": {"eventstore", "internal/*"},

	// The write side and the auditors' reads: the domain and the store.
	"commands": {"domain", "eventstore", "internal/*"},
	"audit":    {"domain", "eventstore", "internal/*"},
	// Consumers of the log, siblings that never import each other.
	"projections": {"domain", "eventstore", "eventstore/feed", "internal/*"},
	"sideeffects": {"domain", "eventstore", "eventstore/feed", "internal/*"},

	// The GraphQL floor.
	"graph/model":     {"domain", "eventstore", "projections"},
	"graph/generated": {"graph/model", "graph/fastlist"},
	"graph/fastlist":  {"graph/model"},
	"graph/loaders":   {"projections"},
	"graph/live":      {"domain", "eventstore", "eventstore/feed", "projections", "graph/model", "internal/auth"},
	"graph": {"domain", "eventstore", "commands", "audit", "projections", "sideeffects", "graph/live",
		"graph/model", "graph/generated", "graph/loaders", "graph/fastlist", "internal/*"},

	// The composition root builds everything once; only the binary and tests import it.
	"app":         {"domain", "eventstore", "eventstore/feed", "commands", "audit", "projections", "sideeffects", "graph", "graph/live", "graph/model", "migrations", "internal/*"},
	"app/apptest": {"app", "domain", "eventstore", "commands", "projections", "sideeffects", "graph", "graph/live", "graph/model", "internal/*"},
	"cmd/...":     {"*"},
	// Code generation helpers: run by go generate, imported by nothing.
	"internal/tools/...": {},
}

// testExtra are what a package's tests may import besides its own rule: every test may use the
// leaves (pgtest, promtest) and write realistic events through the commands; a few tests check
// one floor against another (the CLI and the API list the same dead letters).
var testExtra = map[string][]string{
	"*":           {"internal/*", "domain", "eventstore", "commands"},
	"sideeffects": {"projections"},
	"graph":       {"app", "app/apptest", "cmd/..."},
	"graph/live":  {"app", "app/apptest"},
	"app":         {"app/apptest"},
}

type listed struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

func TestLayers(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("go", "list", "-json", "./...")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(out)
	var pkgs []listed
	for {
		var p listed
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages: run from the module root", len(pkgs))
	}
	for _, p := range pkgs {
		pkg := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		if pkg == "" {
			continue // this test
		}
		allowed, ok := ruleFor(pkg)
		if !ok {
			t.Errorf("%s has no layering rule: add one to layers_test.go", pkg)
			continue
		}
		check := func(imports []string, test bool) {
			for _, imp := range imports {
				if !strings.HasPrefix(imp, module+"/") {
					continue
				}
				dep := strings.TrimPrefix(imp, module+"/")
				if dep == pkg || permits(allowed, dep) || (test && testMayImport(pkg, dep)) {
					continue
				}
				t.Errorf("%s imports %s: not allowed by its layering rule %v", pkg, dep, allowed)
			}
		}
		check(p.Imports, false)
		check(p.TestImports, true)
		check(p.XTestImports, true)
	}
}

func ruleFor(pkg string) ([]string, bool) {
	if r, ok := rules[pkg]; ok {
		return r, true
	}
	// The longest "/..." prefix wins.
	var prefixes []string
	for k := range rules {
		if strings.HasSuffix(k, "/...") {
			prefixes = append(prefixes, k)
		}
	}
	sort.Slice(prefixes, func(i, j int) bool { return len(prefixes[i]) > len(prefixes[j]) })
	for _, k := range prefixes {
		if base := strings.TrimSuffix(k, "/..."); pkg == base || strings.HasPrefix(pkg, base+"/") {
			return rules[k], true
		}
	}
	return nil, false
}

func permits(allowed []string, dep string) bool {
	for _, a := range allowed {
		switch {
		case a == "*" || a == dep:
			return true
		case a == "internal/*":
			for _, l := range leaves {
				if l == dep {
					return true
				}
			}
		case strings.HasSuffix(a, "/..."):
			if base := strings.TrimSuffix(a, "/..."); dep == base || strings.HasPrefix(dep, base+"/") {
				return true
			}
		}
	}
	return false
}

func testMayImport(pkg, dep string) bool {
	return permits(testExtra["*"], dep) || permits(testExtra[pkg], dep)
}
