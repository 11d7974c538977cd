// Package storetest is the contract every store.Store must meet, run
// against each implementation on a real backend.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand"
	"slices"
	"testing"

	"github.com/envsync/envsync/store"
)

// failingReader yields n bytes of data, then an error, like a dump file on
// a disk that fails or a network that drops mid-upload.
type failingReader struct {
	r io.Reader
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errors.New("disk read error")
	}
	return n, err
}

// Run checks s. big is a size that forces a multipart upload where the store
// has one.
func Run(t *testing.T, s store.Store, big int) {
	ctx := context.Background()
	data := make([]byte, big)
	rand.New(rand.NewSource(1)).Read(data)

	t.Run("put get stat list", func(t *testing.T) {
		if err := s.Put(ctx, "p/a.gz", bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, "other/b.gz", bytes.NewReader([]byte("x")), 1); err != nil {
			t.Fatal(err)
		}
		obj, err := s.Stat(ctx, "p/a.gz")
		if err != nil || obj.Size != int64(len(data)) {
			t.Fatalf("stat %+v %v", obj, err)
		}
		r, err := s.Get(ctx, "p/a.gz", 0)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		r.Close()
		if !bytes.Equal(got, data) {
			t.Error("get returned other bytes")
		}
		off := int64(len(data) - 12345)
		r, err = s.Get(ctx, "p/a.gz", off)
		if err != nil {
			t.Fatal(err)
		}
		got, _ = io.ReadAll(r)
		r.Close()
		if !bytes.Equal(got, data[off:]) {
			t.Errorf("ranged get from %d returned %d bytes, want the last %d", off, len(got), len(data)-int(off))
		}
		objs, err := s.List(ctx, "p")
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, o := range objs {
			keys = append(keys, o.Key)
		}
		if !slices.Equal(keys, []string{"p/a.gz"}) {
			t.Errorf("list p = %v", keys)
		}
	})

	t.Run("put replaces", func(t *testing.T) {
		if err := s.Put(ctx, "p/r.gz", bytes.NewReader([]byte("one")), 3); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, "p/r.gz", bytes.NewReader([]byte("second")), 6); err != nil {
			t.Fatal(err)
		}
		r, err := s.Get(ctx, "p/r.gz", 0)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		r.Close()
		if string(got) != "second" {
			t.Errorf("got %q", got)
		}
	})

	t.Run("failed put leaves nothing", func(t *testing.T) {
		err := s.Put(ctx, "p/broken.gz", &failingReader{bytes.NewReader(data)}, int64(len(data))+1)
		if err == nil {
			t.Fatal("a put whose reader failed succeeded")
		}
		if _, err := s.Stat(ctx, "p/broken.gz"); !errors.Is(err, store.ErrNotExist) {
			t.Errorf("after a failed put, stat says %v; want not-exist", err)
		}
		objs, _ := s.List(ctx, "p")
		for _, o := range objs {
			if o.Key == "p/broken.gz" {
				t.Error("a failed put is listed")
			}
		}
	})

	t.Run("missing keys", func(t *testing.T) {
		if _, err := s.Stat(ctx, "p/none.gz"); !errors.Is(err, store.ErrNotExist) {
			t.Errorf("stat: %v", err)
		}
		if _, err := s.Get(ctx, "p/none.gz", 0); !errors.Is(err, store.ErrNotExist) {
			t.Errorf("get: %v", err)
		}
		if err := s.Delete(ctx, "p/none.gz"); err != nil {
			t.Errorf("delete: %v", err)
		}
		if objs, err := s.List(ctx, "empty-prefix"); err != nil || len(objs) != 0 {
			t.Errorf("list of an empty prefix: %v %v", objs, err)
		}
	})

	t.Run("delete", func(t *testing.T) {
		if err := s.Delete(ctx, "p/a.gz"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Stat(ctx, "p/a.gz"); !errors.Is(err, store.ErrNotExist) {
			t.Errorf("stat after delete: %v", err)
		}
	})
}
