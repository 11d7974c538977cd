package engine

import (
	"os"
	"strconv"
	"strings"
	"sync"
)

// stdioBuffer is the stdio buffer BufferStdio gives a database tool's
// standard input and output: a pipe's worth (PipeSize).
const stdioBuffer = pipeSize

// stdbufLibs are where coreutils installs libstdbuf, the library behind
// stdbuf(1): Debian and Ubuntu, then Fedora and RHEL, then Arch.
var stdbufLibs = []string{
	"/usr/libexec/coreutils/libstdbuf.so",
	"/usr/lib64/coreutils/libstdbuf.so",
	"/usr/lib/coreutils/libstdbuf.so",
}

var stdbufLib = sync.OnceValue(func() string {
	for _, lib := range stdbufLibs {
		if _, err := os.Stat(lib); err == nil {
			return lib
		}
	}
	return ""
})

// BufferStdio returns env (the worker's own when nil) set so that a
// database tool's stdio reads its standard input and writes its standard
// output 1 MiB at a time, as `stdbuf -i1M -o1M` would. C stdio buffers a
// pipe in 4 KiB: pg_dump made about 224,000 writes of a 900 MB archive,
// each waking the worker's reader, and pg_dump and its reader together
// spent twice the CPU they do with 1 MiB writes (3.0 against 1.4
// core-seconds on the test machine). Without coreutils' libstdbuf on the
// host the tool runs as it is, only slower. A tool whose data goes
// elsewhere than stdin and stdout (pg_restore's --file) is not changed
// by it.
func BufferStdio(env []string) []string {
	lib := stdbufLib()
	if lib == "" {
		return env
	}
	if env == nil {
		env = os.Environ()
	}
	preload := lib
	for _, kv := range env {
		// exec keeps the last of two values of one variable: an
		// LD_PRELOAD the worker was given stays, before this one.
		if v, ok := strings.CutPrefix(kv, "LD_PRELOAD="); ok && v != "" {
			preload = v + " " + lib
		}
	}
	size := strconv.Itoa(stdioBuffer)
	return append(env[:len(env):len(env)], "LD_PRELOAD="+preload, "_STDBUF_I="+size, "_STDBUF_O="+size)
}
