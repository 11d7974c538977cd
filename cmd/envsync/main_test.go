package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/envsync/envsync/dump"
)

func runCaptured(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// Every flag a command defines appears in its --help, whatever flags are
// added later: the list comes from the FlagSet, not from this test.
func TestCommandHelpNamesEveryFlag(t *testing.T) {
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			name := strings.Fields(c.name)
			if c.define == nil { // not in this build (-tags lean)
				code, _, stderr := runCaptured(t, append(name, "--help")...)
				if code != 2 || !strings.Contains(stderr, "not in this build") || !strings.Contains(stderr, "default build") {
					t.Errorf("exit %d, stderr %q; want 2 and a message naming the build that has it", code, stderr)
				}
				return
			}
			fs := newFlagSet(c)
			c.define(fs)
			for _, help := range []string{"--help", "-h"} {
				code, stdout, stderr := runCaptured(t, append(name, help)...)
				if code != 0 || stderr != "" {
					t.Fatalf("%s %s: exit %d, stderr %q; want 0 and help on stdout", c.name, help, code, stderr)
				}
				if !strings.HasPrefix(stdout, "Usage: envsync "+c.name) {
					t.Errorf("%s %s: help does not start with the synopsis:\n%s", c.name, help, stdout)
				}
				fs.VisitAll(func(f *flag.Flag) {
					if !regexp.MustCompile(`(?m)^  -` + regexp.QuoteMeta(f.Name) + `( |$)`).MatchString(stdout) {
						t.Errorf("%s %s does not list -%s:\n%s", c.name, help, f.Name, stdout)
					}
				})
			}
			_, viaHelp, _ := runCaptured(t, append([]string{"help"}, name...)...)
			if _, direct, _ := runCaptured(t, append(name, "--help")...); viaHelp != direct {
				t.Errorf("envsync help %s differs from envsync %s --help", c.name, c.name)
			}
		})
	}
}

func TestUnknownFlagPrintsErrorAndUsage(t *testing.T) {
	for _, c := range commands {
		if c.define == nil {
			continue
		}
		code, stdout, stderr := runCaptured(t, append(strings.Fields(c.name), "--no-such-flag")...)
		if code != 2 || stdout != "" ||
			!strings.Contains(stderr, "flag provided but not defined: -no-such-flag") ||
			!strings.Contains(stderr, "Usage: envsync "+c.name) {
			t.Errorf("%s --no-such-flag: exit %d, stdout %q, stderr:\n%s\nwant 2, the error and the usage on stderr", c.name, code, stdout, stderr)
		}
	}
}

func TestTopLevelHelpNamesEveryCommand(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		code   int
		stdout bool // help on stdout, else on stderr
	}{
		{nil, 2, false},
		{[]string{"help"}, 0, true},
		{[]string{"--help"}, 0, true},
		{[]string{"-h"}, 0, true},
		{[]string{"no-such-command"}, 2, false},
	} {
		code, stdout, stderr := runCaptured(t, tc.args...)
		out, other := stderr, stdout
		if tc.stdout {
			out, other = stdout, stderr
		}
		if code != tc.code || other != "" {
			t.Errorf("envsync %v: exit %d, other stream %q; want %d", tc.args, code, other, tc.code)
		}
		for _, c := range commands {
			if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(c.name) + `  `).MatchString(out) {
				t.Errorf("envsync %v does not list %q:\n%s", tc.args, c.name, out)
			}
		}
		for _, want := range []string{"$TEMPORAL_ADDRESS", "$TEMPORAL_NAMESPACE", "Exit status: 0 done, 1 the run failed, 2 bad input, 3 the run's outcome is unknown"} {
			if !strings.Contains(out, want) {
				t.Errorf("envsync %v lacks %q:\n%s", tc.args, want, out)
			}
		}
	}
}

// A noun without its verb shows the commands it starts, exit 2.
func TestNounWithoutVerbShowsItsCommands(t *testing.T) {
	code, _, errOut := runCaptured(t, "schedules")
	if code != 2 || !strings.Contains(errOut, "envsync schedules apply -f") {
		t.Errorf("exit %d, stderr %q; want 2 and the schedules apply usage", code, errOut)
	}
}

// A NUL byte in a path is bad input: exit 2 naming the field, before any
// run starts (it used to start one that failed with `mkdir /tmp/a b`).
func TestControlCharacterInAPathIsBadInput(t *testing.T) {
	tasks := filepath.Join(t.TempDir(), "tasks.yaml")
	body := "tasks:\n  push_orders:\n    action: push\n    dbms: postgresql\n    storagebackend: file\n    url: /srv/dumps\n" +
		"    database: orders\n    worker_host: db1\n    temppath: \"/tmp/a\\0b\"\n"
	if err := os.WriteFile(tasks, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	// Nothing listens here: a run that got as far as dialing would fail
	// with exit 1 instead.
	t.Setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
	code, _, stderr := runCaptured(t, "push", "--tasks", tasks, "--task", "push_orders")
	if code != 2 || !strings.Contains(stderr, `temppath "/tmp/a\x00b": holds the control character U+0000`) {
		t.Errorf("exit %d, stderr %q; want 2 naming temppath and the character", code, stderr)
	}
}

// A worker setting an engine cannot use stops the worker before it dials
// Temporal, exit 2, naming the flag, its variable and the value: given as
// a flag or in the environment.
func TestBadEngineSettingIsBadInput(t *testing.T) {
	t.Setenv("TEMPORAL_ADDRESS", "127.0.0.1:1") // a run that dialed would wait, then exit 1
	code, _, stderr := runCaptured(t, "worker", "--pg-copy-lanes", "0", "--wait-at-start", "0")
	if code != 2 || !strings.Contains(stderr, "-pg-copy-lanes") || !strings.Contains(stderr, "want a number of connections, 1-64") {
		t.Errorf("flag: exit %d, stderr %q; want 2 naming --pg-copy-lanes and what it takes", code, stderr)
	}
	t.Setenv("ENVSYNC_PG_COPY_LANES", "many")
	code, _, stderr = runCaptured(t, "worker", "--wait-at-start", "0")
	if code != 2 || !strings.Contains(stderr, `--pg-copy-lanes (or $ENVSYNC_PG_COPY_LANES) "many": want a number of connections, 1-64`) {
		t.Errorf("environment: exit %d, stderr %q; want 2 naming the flag, the variable and the value", code, stderr)
	}
}

// `envsync version` names the zstd encoder the build compresses pushes
// with, which decides how much CPU a push takes (dump/zstd.go).
func TestVersionNamesTheZstdEncoder(t *testing.T) {
	code, stdout, _ := runCaptured(t, "version")
	if code != 0 || !strings.HasPrefix(stdout, "envsync ") || !strings.Contains(stdout, "\nzstd encoder: "+dump.ZstdEncoder()+"\n") {
		t.Errorf("exit %d, stdout %q; want the version and the line zstd encoder: %s", code, stdout, dump.ZstdEncoder())
	}
}
