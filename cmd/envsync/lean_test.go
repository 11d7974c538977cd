package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// serverModules are what `envsync dev` and `envsync demo` embed and a
// database host's worker never uses.
var serverModules = []string{"go.temporal.io/server", "github.com/temporalio/ui-server"}

func isServer(pkg string) bool {
	return slices.ContainsFunc(serverModules, func(m string) bool { return pkg == m || strings.HasPrefix(pkg, m+"/") })
}

// The lean build (the worker image's) links neither the Temporal server
// nor its Web UI; the default build does, which shows the test can fail.
func TestLeanBuildLeavesOutTheServer(t *testing.T) {
	for _, tc := range []struct {
		tags       string
		wantServer bool
	}{{"", true}, {"lean", false}} {
		out, err := exec.Command("go", "list", "-deps", "-tags", tc.tags,
			"-f", "{{.ImportPath}} {{join .Imports \" \"}}", ".").Output()
		if err != nil {
			t.Fatalf("go list -deps -tags %q: %v", tc.tags, err)
		}
		var server, importers []string
		for line := range strings.Lines(string(out)) {
			pkg, imports, _ := strings.Cut(strings.TrimSpace(line), " ")
			if isServer(pkg) {
				server = append(server, pkg)
			} else if strings.HasPrefix(pkg, "github.com/envsync/envsync/") && slices.ContainsFunc(strings.Fields(imports), isServer) {
				importers = append(importers, pkg)
			}
		}
		switch {
		case tc.wantServer && len(server) == 0:
			t.Errorf("go list -deps -tags %q ./cmd/envsync: no package of %v; the lean check below proves nothing", tc.tags, serverModules)
		case !tc.wantServer && len(server) > 0:
			t.Errorf("go list -deps -tags %q ./cmd/envsync holds %d packages of %v (e.g. %s), imported by %v: give the files of ours that import them //go:build !lean",
				tc.tags, len(server), serverModules, server[0], importers)
		}
		t.Logf("tags %q: %d server packages", tc.tags, len(server))
	}
}
