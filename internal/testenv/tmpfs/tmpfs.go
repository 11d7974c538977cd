// Package tmpfs gives tests a disk that really fills up: a tmpfs of a
// chosen size, so a write past it fails with the kernel's ENOSPC, not a
// simulated error. It needs root, as CI runs.
package tmpfs

import (
	"os/exec"
	"testing"
)

// Mount mounts a tmpfs of size ("1m", "4m") on a temp dir until the test
// ends, and returns the dir.
func Mount(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0777", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a %s tmpfs at %s: %v: %s (this test runs as root, as CI does: it needs a disk that really fills)", size, dir, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	return dir
}
