package dump

import (
	"io"
	"runtime"

	"github.com/klauspost/compress/zstd"
)

// A push compresses with libzstd, zstd's own C library, wherever envsync
// is built with cgo (the default where a C compiler is, and the Docker
// image): on the 2-core test machine it took 1.7-1.9 s of CPU for the
// benchmark's 916 MB archive at level 1 where Go's encoder at its fastest
// level took 3.1-3.3 s, and stored 195 MB against 199 MB
// (docs/benchmarks.md). On two cores that CPU comes out of what the
// database server's COPY and the dump tool have, so it is a push's wall
// time. A build without cgo (CGO_ENABLED=0) compresses with Go's encoder:
// the same format, so pulls read either, at about 1.7 times the CPU.
// Pulls decode with Go's decoder in every build: it is within 0.25 s of
// the C one on the same archive, next to a restore of 15 s or more.

// useGoZstd makes a cgo build compress with Go's encoder too: tests set
// it to cover the encoder of builds without cgo.
var useGoZstd bool

// ZstdEncoder says which zstd encoder this build's pushes use: `envsync
// version` prints it, since it decides how much CPU a push takes.
func ZstdEncoder() string {
	if useGoZstd || !haveCZstd {
		return "Go (github.com/klauspost/compress; built without cgo, a push spends about 1.7 times the CPU compressing)"
	}
	return "libzstd (C, through cgo)"
}

// Both encoders (newZstdEncoder, in zstd_cgo.go and zstd_nocgo.go) write
// zstd's content checksum (XXH64 of the dump) at the end of the frame. The
// manifest's sha256 covers the stored bytes, so it cannot tell damage
// done before they were hashed (in the worker's memory, in an encoder);
// the row counts see lost rows, not changed values, and the decoder alone
// found only half of single bytes flipped in small dumps, the rest
// decoding to other bytes. The pull's decoder checks the sum and reports
// a mismatch as a damaged dump. It costs about 0.06 s per GiB (XXH64).

// newGoZstd is Go's encoder at the nearest of its four speeds to zstd's
// level: 1-2 its fastest, 3-5 its default, 6-9 better, 10 and up its best.
func newGoZstd(w io.Writer, level int) (io.WriteCloser, error) {
	return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
		zstd.WithEncoderConcurrency(encoderConcurrency()))
}

// encoderConcurrency is how many goroutines Go's zstd encodes a stream
// with. Its streaming encoder runs more than one as a pipeline (one finds
// the matches of a block, the next encodes it, two new goroutines a
// block), which buys at most twice one goroutine's speed and costs about a
// fifth more CPU in hand-offs. On two cores the database server's COPY and
// the dump tool already hold one of them, and that fifth is taken from
// them: there one goroutine, at 330 MB/s on the test machine (pg_dump's
// stream comes at about 200 MB/s), made `pg_dump | compress` faster in
// every round (docs/benchmarks.md). That goroutine is the writer's caller:
// a push gives it one of its own (datapath.Push), apart from the one that
// reads and counts the dump. With more cores the pipeline has room.
func encoderConcurrency() int {
	if n := runtime.GOMAXPROCS(0); n > 2 {
		return n
	}
	return 1
}
