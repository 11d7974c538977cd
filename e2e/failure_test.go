package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/internal/testenv"
	"github.com/envsync/envsync/starter"
)

// A dump whose compressed stream is damaged but whose manifest matches it
// (damaged before it was hashed, or rewritten with it) gets past the
// checksum. The pull must report it as a damaged dump, naming the key,
// rather than pg_restore's confusion at its input ending ("out of
// memory"); print no success summary with empty fields; say the cause
// once; and leave the target as it was.
func TestDamagedDumpFailsOnceAndClearly(t *testing.T) {
	e := newEnv(t, false)
	e.createShop("shop")
	e.exec("postgres", "CREATE DATABASE shop_staging")
	e.exec("shop_staging", "CREATE TABLE precious (v text)", "INSERT INTO precious VALUES ('still here')")
	push := e.mustRun(starter.Request{Task: e.task(config.ActionPush, "shop", "file")})
	key := push.Push.Key
	e.damage(t, key)

	dir := t.TempDir()
	tasks := writeFile(t, dir, "tasks.yaml", fmt.Sprintf(`
tasks:
  pull_shop_staging:
    action: pull
    dbms: postgresql
    storagebackend: file
    url: %s
    path: postgresql
    database: shop_staging
    source_database: shop
    database_hostname: %s
    worker_host: %s
`, e.fileDir, e.pg.Addr(), testenv.Host))
	before := e.snapshot("shop_staging")
	r := e.envsync(t, "pull", "--tasks", tasks, "--task", "pull_shop_staging")
	if r.code != 1 {
		t.Fatalf("pull of a damaged dump: exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, never := range []string{"restored", "size ", "0001-01-01", "via staging", "sha256"} {
		if strings.Contains(r.stdout, never) {
			t.Errorf("a failed pull printed %q from the success summary:\n%s", never, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "temporal workflow show --workflow-id ") {
		t.Errorf("stdout does not say where to find the run:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "dump "+key+" is damaged") || strings.Contains(r.stderr, "out of memory") {
		t.Errorf("stderr does not report the dump as damaged:\n%s", r.stderr)
	}
	if n := strings.Count(r.stderr, "decompressing it failed"); n != 1 {
		t.Errorf("the cause is said %d times, want once:\n%s", n, r.stderr)
	}
	if len(r.stderr) > 600 {
		t.Errorf("%d bytes of error for one failure:\n%s", len(r.stderr), r.stderr)
	}
	e.assertUntouched(t, "shop_staging", before)
}

// rewriteManifest makes object's manifest describe data, as if the damage
// had happened before the dump was hashed.
func rewriteManifest(t *testing.T, object string, data []byte) {
	t.Helper()
	path := object + dump.ManifestSuffix
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	m["size"], m["sha256"] = len(data), hex.EncodeToString(sum[:])
	if body, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
}

// damage flips a byte in the middle of the dump key in the env's file
// store and rewrites its manifest to match: damage done before the dump
// was hashed, which only decompressing finds.
func (e *env) damage(t *testing.T, key string) {
	t.Helper()
	object := filepath.Join(e.fileDir, key)
	data, err := os.ReadFile(object)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x55
	if err := os.WriteFile(object, data, 0o644); err != nil {
		t.Fatal(err)
	}
	rewriteManifest(t, object, data)
}
