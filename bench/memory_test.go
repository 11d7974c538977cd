// Package bench measures envsync's data path. Run:
//
//	go test -run '^$' -bench . -benchtime 1x ./bench/
//
// BenchmarkDataPathMemory pushes and pulls a small and a 32 times larger
// synthetic dump through the real stream pieces (gzip + sha256 writer, the
// Upload and Download activities, the file store, the gzip reader) and
// prints the peak Go heap of each and their ratio. Flat memory means a ratio
// near 1, whatever the database's size.
package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/dump"
	_ "github.com/envsync/envsync/engine/all" // the engines and stores tasks name
)

// rows produces n bytes of dump-like text (compressible, not trivially).
type rows struct {
	left int64
	rnd  *rand.Rand
	buf  []byte
}

func (r *rows) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if len(r.buf) == 0 {
		r.buf = fmt.Appendf(nil, "%d\tcustomer-%d@example.org\t{\"sku\": %d}\t%x\n", r.rnd.Int63(), r.rnd.Intn(1e6), r.rnd.Intn(1e4), r.rnd.Int63())
	}
	n := copy(p, r.buf)
	if int64(n) > r.left {
		n = int(r.left)
	}
	r.buf = r.buf[n:]
	r.left -= int64(n)
	return n, nil
}

// peakHeap samples live heap bytes while fn runs.
func peakHeap(fn func()) uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	return peak.Load()
}

func roundTrip(b *testing.B, size int64) {
	dir := b.TempDir()
	task := config.Task{Name: "bench", Action: "push", DBMS: "postgresql", StorageBackend: "file", Database: "bench",
		URL: filepath.Join(dir, "store"), Path: "pg", WorkerHost: "h", TempPath: filepath.Join(dir, "tmp")}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	a := activities.New(activities.Config{LockDir: filepath.Join(dir, "locks")})
	env.RegisterActivity(a)

	// Dump: engine output through the compress+hash writer into a file.
	os.MkdirAll(task.TempPath, 0o700)
	path := filepath.Join(task.TempPath, "dump.zst")
	f, _ := os.Create(path)
	w, err := dump.NewWriter(f, dump.Zstd, 0)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(w, &rows{left: size, rnd: rand.New(rand.NewSource(1))}); err != nil {
		b.Fatal(err)
	}
	w.Close()
	f.Close()
	d := activities.DumpResult{Path: path, Size: w.Size(), SHA256: w.SHA256(), Compression: dump.Zstd, StartedAt: time.Now().UTC()}

	val, err := env.ExecuteActivity(a.Upload, activities.UploadInput{Task: task, Dump: d})
	if err != nil {
		b.Fatal(err)
	}
	var up activities.UploadResult
	val.Get(&up)

	task.Action = "pull"
	val, err = env.ExecuteActivity(a.Download, activities.DownloadInput{Task: task,
		Dump: activities.ResolveResult{Key: up.Key, Size: d.Size, SHA256: d.SHA256}})
	if err != nil {
		b.Fatal(err)
	}
	var down activities.DownloadResult
	val.Get(&down)

	// Restore: what the engine would read.
	in, _ := os.Open(down.Path)
	defer in.Close()
	zr, err := dump.NewReader(in, dump.Zstd)
	if err != nil {
		b.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, zr)
	if err != nil || n != size {
		b.Fatalf("restored %d bytes of %d: %v", n, size, err)
	}
	_ = hex.EncodeToString(h.Sum(nil))
}

func BenchmarkDataPathMemory(b *testing.B) {
	const small = 8 << 20
	for i := 0; i < b.N; i++ {
		base := peakHeap(func() { roundTrip(b, small) })
		big := peakHeap(func() { roundTrip(b, 32*small) })
		ratio := float64(big) / float64(base)
		b.ReportMetric(float64(base)/(1<<20), "MiB-peak-8MiB")
		b.ReportMetric(float64(big)/(1<<20), "MiB-peak-256MiB")
		b.ReportMetric(ratio, "ratio")
		fmt.Printf("data path peak heap: %.1f MiB for 8 MiB, %.1f MiB for 256 MiB of dump: ratio %.2f for 32x the data\n",
			float64(base)/(1<<20), float64(big)/(1<<20), ratio)
	}
}
