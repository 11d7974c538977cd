package config

import (
	"fmt"
	"strings"
	"testing"

	_ "github.com/envsync/envsync/engine/all" // the engines and stores tasks name
)

// manyTasks is a tasks file of n tasks in push/pull pairs, each push
// chaining its pull, so that chain checks run on every pair.
func manyTasks(n int) []byte {
	var b strings.Builder
	b.WriteString("defaults:\n  worker_host: db1\n  storagebackend: s3\n  url: dumps\n  dbms: postgresql\n  timezone: Europe/London\ntasks:\n")
	for i := range n / 2 {
		fmt.Fprintf(&b, "  push_%d:\n    action: push\n    database: db_%d\n    hour: %d\n    minute: %d\n    then: [pull_%d]\n", i, i, i%24, i%60, i)
		fmt.Fprintf(&b, "  pull_%d:\n    action: pull\n    database: db_%d\n", i, i)
	}
	return []byte(b.String())
}

// go test -bench ParseFile ./config/
func BenchmarkParseFile10000(b *testing.B) {
	data := manyTasks(10000)
	for b.Loop() {
		f, err := ParseFile("tasks.yaml", data)
		if err != nil {
			b.Fatal(err)
		}
		if len(f.Tasks) != 10000 {
			b.Fatalf("%d tasks", len(f.Tasks))
		}
	}
}
