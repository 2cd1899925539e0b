package server_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/ssooidc/ssooidc"

// TestLayering enforces DESIGN.md's import direction: cmd → server →
// {awsapi, oauthapi, portal, web} → {oauth, directory, keys, accounts} →
// store ← backends. Adapters never touch a storage backend, the engine
// never sees HTTP, and the public client imports nothing internal.
func TestLayering(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-json=ImportPath,Imports,Deps", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	type pkg struct {
		ImportPath string
		Imports    []string
		Deps       []string
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(p.ImportPath, module) {
			pkgs[strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")] = p
		}
	}
	internalImports := func(p pkg) []string {
		var in []string
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module+"/") {
				in = append(in, strings.TrimPrefix(imp, module+"/"))
			}
		}
		return in
	}
	// allowed lists, per package, the module packages it may import.
	allowed := map[string][]string{
		"internal/store":           nil,
		"internal/secret":          nil,
		"internal/reqinfo":         nil,
		"internal/audit":           nil,
		"internal/clocktest":       nil,
		"internal/config":          {"internal/secret"},
		"internal/ratelimit":       {"internal/store", "internal/secret"},
		"internal/oauth":           {"internal/store", "internal/secret", "internal/audit", "internal/ratelimit"},
		"internal/directory":       {"internal/store", "internal/secret", "internal/audit", "internal/ratelimit"},
		"internal/awsapi":          {"internal/oauth", "internal/reqinfo"},
		"internal/keys":            {"internal/store", "internal/secret"},
		"internal/oauthapi":        {"internal/oauth", "internal/reqinfo"},
		"internal/credentials":     {"internal/store", "internal/secret"},
		"internal/accounts":        {"internal/store", "internal/secret", "internal/audit", "internal/credentials"},
		"internal/portal":          {"internal/accounts", "internal/oauth", "internal/reqinfo"},
		"internal/web":             {"internal/oauth", "internal/directory", "internal/reqinfo", "internal/store", "internal/secret", "internal/ratelimit"},
		"internal/store/sqlite":    {"internal/store"},
		"internal/store/postgres":  {"internal/store"},
		"internal/store/storetest": {"internal/store"},
	}
	for name, p := range pkgs {
		if strings.HasPrefix(name, "client") {
			for _, d := range p.Deps {
				if strings.HasPrefix(d, module+"/internal") {
					t.Errorf("public package %s depends on %s", name, d)
				}
			}
			continue
		}
		want, ok := allowed[name]
		if !ok {
			continue
		}
		for _, imp := range internalImports(p) {
			if !slices.Contains(want, imp) {
				t.Errorf("%s imports %s; allowed: %v", name, imp, want)
			}
		}
	}
	for _, engine := range []string{"internal/oauth", "internal/directory", "internal/keys", "internal/ratelimit", "internal/store"} {
		if slices.Contains(pkgs[engine].Deps, "net/http") {
			t.Errorf("%s depends on net/http: the engine must not see HTTP", engine)
		}
	}
	if len(pkgs) < len(allowed)-1 {
		t.Errorf("only %d module packages listed; is go list working?", len(pkgs))
	}
}
