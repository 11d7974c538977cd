package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// pages are the README and every page of docs/.
func pages(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range append(files, "../../README.md") {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[f] = string(b)
	}
	return out
}

// The README links every docs page, and every relative link in the README
// and the docs leads to a file that exists.
func TestDocsAreLinkedAndLinksLead(t *testing.T) {
	all := pages(t)
	readme := all["../../README.md"]
	link := regexp.MustCompile(`\]\(([^)#:]+)(#[^)]*)?\)`)
	for path, body := range all {
		if path != "../../README.md" && !strings.Contains(readme, "](docs/"+filepath.Base(path)+")") {
			t.Errorf("the README does not link %s", filepath.Base(path))
		}
		for _, m := range link.FindAllStringSubmatch(body, -1) {
			if _, err := os.Stat(filepath.Join(filepath.Dir(path), m[1])); err != nil {
				t.Errorf("%s links %s, which does not exist", filepath.Base(path), m[1])
			}
		}
	}
	if n := strings.Count(readme, "\n"); n > 250 {
		t.Errorf("the README has %d lines; the reference belongs in docs/, the README at most 250", n)
	}
}

// Every envsync command line in the README's and the docs' shell examples
// names a command this binary has and only flags that command defines, so
// the examples cannot drift from the flags.
func TestDocsCommandsUseRealFlags(t *testing.T) {
	checked := 0
	for path, body := range pages(t) {
		for _, block := range shellBlocks(body) {
			for _, line := range strings.Split(block, "\n") {
				args := commandLine(line)
				if args == nil {
					continue
				}
				c, rest, ok := lookup(args)
				if !ok {
					t.Errorf("%s: %q names no envsync command", filepath.Base(path), line)
					continue
				}
				if c.define == nil {
					continue // not in this build
				}
				fs := newFlagSet(c)
				c.define(fs)
				for _, a := range rest {
					name, isFlag := strings.CutPrefix(a, "-")
					if !isFlag || name == "" {
						continue
					}
					name, _, _ = strings.Cut(strings.TrimPrefix(name, "-"), "=")
					if fs.Lookup(name) == nil {
						t.Errorf("%s: %q: envsync %s has no flag -%s", filepath.Base(path), line, c.name, name)
					}
				}
				checked++
			}
		}
	}
	if checked < 10 {
		t.Errorf("checked %d command lines in the docs; the examples were not found", checked)
	}
}

// shellBlocks are the ```sh blocks of a page.
func shellBlocks(page string) []string {
	var out []string
	for _, part := range strings.Split(page, "```sh\n")[1:] {
		block, _, _ := strings.Cut(part, "```")
		out = append(out, block)
	}
	return out
}

// commandLine is the arguments of an envsync command line (the program
// given as envsync, bin/envsync or go run ./cmd/envsync), or nil.
func commandLine(line string) []string {
	line, _, _ = strings.Cut(line, " #")
	fields := strings.Fields(line)
	for len(fields) > 0 && strings.Contains(fields[0], "=") { // FOO=bar envsync ...
		fields = fields[1:]
	}
	switch {
	case len(fields) > 3 && fields[0] == "go" && fields[1] == "run" && fields[2] == "./cmd/envsync":
		return fields[3:]
	case len(fields) > 1 && (fields[0] == "envsync" || strings.HasSuffix(fields[0], "/envsync")):
		return fields[1:]
	}
	return nil
}
