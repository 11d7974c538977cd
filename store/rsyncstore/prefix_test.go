package rsyncstore_test

import (
	"context"
	"io"
	"strings"

	"github.com/envsync/envsync/store"
)

// prefixed runs the contract's relative keys under a directory of the
// test's own on the server.
type prefixed struct {
	s    store.Store
	root string
}

func (p prefixed) k(key string) string { return p.root + "/" + key }

func (p prefixed) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	return p.s.Put(ctx, p.k(key), r, size)
}
func (p prefixed) Get(ctx context.Context, key string, off int64) (io.ReadCloser, error) {
	return p.s.Get(ctx, p.k(key), off)
}
func (p prefixed) Stat(ctx context.Context, key string) (store.Object, error) {
	o, err := p.s.Stat(ctx, p.k(key))
	o.Key = strings.TrimPrefix(o.Key, p.root+"/")
	return o, err
}
func (p prefixed) List(ctx context.Context, prefix string) ([]store.Object, error) {
	objs, err := p.s.List(ctx, p.k(prefix))
	for i := range objs {
		objs[i].Key = strings.TrimPrefix(objs[i].Key, p.root+"/")
	}
	return objs, err
}
func (p prefixed) Delete(ctx context.Context, key string) error { return p.s.Delete(ctx, p.k(key)) }
