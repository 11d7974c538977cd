// Package store defines where dumps are kept. Every backend implements the
// one small Store interface; activities stream between it and an engine.
package store

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrNotExist is returned (wrapped) for a key that is not there.
var ErrNotExist = errors.New("object does not exist")

// Object describes a stored object.
type Object struct {
	Key      string
	Size     int64
	Modified time.Time
}

// Store keeps objects under keys ("a/b/c.gz"). Implementations must make Put
// atomic: a reader sees the whole object or none of it, never a prefix left by
// a failed upload.
type Store interface {
	// Put stores the bytes of r under key, replacing any object there. It
	// reads r to its end before the object becomes visible: a nil error
	// means all of r is stored. size, when >= 0, is how many bytes r
	// holds, and a different count fails the Put.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Get reads key from byte offset onwards (offset 0: the whole object),
	// so an interrupted download resumes instead of starting again.
	Get(ctx context.Context, key string, offset int64) (io.ReadCloser, error)
	// Stat describes key, or fails with ErrNotExist.
	Stat(ctx context.Context, key string) (Object, error)
	// List returns every object whose key starts with prefix + "/" (all
	// objects when prefix is empty), in no particular order.
	List(ctx context.Context, prefix string) ([]Object, error)
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// Describe names a store location for messages, e.g. "s3://bucket/prefix".
func Describe(backend, url, prefix string) string {
	loc := backend + "://" + url
	if prefix != "" {
		loc += "/" + prefix
	}
	return loc
}

// FilePutter is implemented by stores that send a local file better than a
// stream (rsync resumes an interrupted file transfer); Upload prefers it.
type FilePutter interface {
	PutFile(ctx context.Context, key, localPath string, size int64) error
}

// FileGetter is implemented by stores that fetch into a local file better
// than a stream, completing a partial file left by an earlier attempt.
type FileGetter interface {
	GetFile(ctx context.Context, key, localPath string) error
}

// Sweeper is implemented by stores where an upload that failed and could
// not be cleaned up leaves debris (S3's unfinished multipart uploads, which
// cost money and are never listed as objects). Sweep removes the debris
// under prefix for which match (given its key and when it started) is true.
type Sweeper interface {
	Sweep(ctx context.Context, prefix string, match func(key string, started time.Time) bool) (int, error)
}

// Sizer is implemented by stores that tune an upload to its size (S3's part
// size): ForSize is the store set for uploads of about n bytes, sharing
// this one's connection and what it has learnt of the server (that it is
// not answering, say).
type Sizer interface {
	ForSize(n int64) Store
}

// ErrRefused is wrapped by errors a store answers that retrying cannot fix:
// no such bucket, access denied, bad credentials.
var ErrRefused = errors.New("refused by the store")
