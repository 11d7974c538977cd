package store

import (
	"context"
	"slices"
	"time"

	"github.com/envsync/envsync/internal/registry"
)

// Info is what a store package says about itself when it registers. Config
// validates tasks against it and activities open stores with it.
type Info struct {
	// Name is the storagebackend value tasks give; Aliases are other
	// values meaning the same store, replaced by Name when a task is read.
	Name    string
	Aliases []string
	// Native stores are kept by a database server itself (a snapshot
	// repository): no bytes pass through envsync, and only the engine
	// that declares the store (engine.Info.Native) uses it. They have no
	// New.
	Native bool
	// Fields are the task keys only some stores read (keep).
	Fields []string
	// Check validates a task's url and path for this store: a non-empty
	// field, value and reason refuse it. Optional.
	Check func(url, path string) (field, value, reason string)
	// New opens the store for one task on this worker host.
	New func(ctx context.Context, s Spec) (Store, error)
}

// Spec is what a store is told: the task's url, and the worker host's own
// settings for the stores it can reach.
type Spec struct {
	URL string
	// ExpectedSize is about how many bytes an upload will hold (the last
	// dump's size); 0: unknown.
	ExpectedSize int64
	// StallAfter fails a transfer whose bytes stop moving for this long;
	// 0: the store's default.
	StallAfter time.Duration
	// AnswerWithin fails a metadata call (a listing, an upload's start)
	// that gets no answer for this long; 0: the store's default.
	AnswerWithin time.Duration
	// S3-protocol servers: the endpoint (empty: AWS), region, and whether
	// to leave out server-side encryption.
	S3Endpoint, S3Region string
	S3NoEncryption       bool
	// ssh-reached file servers: private key and known_hosts files; empty
	// means ssh's defaults.
	SSHIdentity, SSHKnownHosts string
	// UploadLimit caps uploads, in bytes a second (0: none), for stores
	// that send files with tools of their own; streams are paced by the
	// caller.
	UploadLimit int64
}

var stores = registry.New[Info]("store")

// Register makes a store known; store packages (and engines with a native
// store) call it from init. A name registered twice panics.
func Register(info Info) {
	if info.Name == "" || (info.New == nil) != info.Native {
		panic("store.Register: Name is required, and New unless the store is Native")
	}
	stores.Add(info.Name, info.Aliases, info)
}

// Lookup returns the store registered under name or alias.
func Lookup(name string) (Info, bool) { return stores.Lookup(name) }

// Names returns every name tasks may give as storagebackend, aliases
// included, in a stable order.
func Names() []string { return stores.Names() }

// Taking returns the names of the stores that read the task key field.
func Taking(field string) []string {
	var out []string
	for _, i := range stores.All() {
		if slices.Contains(i.Fields, field) {
			out = append(out, i.Name)
		}
	}
	return out
}
