package s3store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/envsync/envsync/internal/testenv"
	"github.com/envsync/envsync/store"
	"github.com/envsync/envsync/store/s3store"
	"github.com/envsync/envsync/store/storetest"
)

// The contract on a real S3-protocol server, with parts small enough that
// the big object goes up as a multipart upload.
func TestContract(t *testing.T) {
	srv := testenv.StartS3(t, "contract")
	s, err := s3store.New(context.Background(), s3store.Options{Bucket: "contract", Endpoint: srv.Endpoint, PartSize: 5 << 20, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, s, 12<<20)
}

func TestMissingBucketSaysSo(t *testing.T) {
	srv := testenv.StartS3(t)
	s, err := s3store.New(context.Background(), s3store.Options{Bucket: "no-such-bucket", Endpoint: srv.Endpoint})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.List(context.Background(), "x")
	if err == nil {
		t.Fatal("listing a missing bucket succeeded")
	}
	if !strings.Contains(err.Error(), "the bucket does not exist: create it or fix url") {
		t.Errorf("error does not say what to do: %v", err)
	}
}

// Server-side encryption is asked for on every upload unless turned off.
// versitygw ignores the header, so this looks at the request itself.
func TestUploadsAskForEncryption(t *testing.T) {
	for _, off := range []bool{false, true} {
		var got string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.Method {
			case http.MethodPut:
				got = r.Header.Get("X-Amz-Server-Side-Encryption")
				w.Header().Set("ETag", `"x"`)
			case http.MethodHead:
				w.Header().Set("Content-Length", "3")
			}
		}))
		t.Setenv("AWS_ACCESS_KEY_ID", "k")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
		s, err := s3store.New(context.Background(), s3store.Options{Bucket: "b", Endpoint: srv.URL, NoEncryption: off})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Put(context.Background(), "k", strings.NewReader("abc"), 3); err != nil {
			t.Fatal(err)
		}
		srv.Close()
		if want := map[bool]string{false: "AES256", true: ""}[off]; got != want {
			t.Errorf("NoEncryption=%v: header %q, want %q", off, got, want)
		}
	}
}

// A part whose bytes change on the way is refused by the server, so the
// push fails and nothing is listed: each part carries its CRC32C (its
// payload is not signed), and the server checks it before keeping the part.
func TestDamagedPartRefused(t *testing.T) {
	srv := testenv.StartS3(t, "damage")
	for _, damage := range []bool{false, true} {
		o := s3store.Options{Bucket: "damage", Endpoint: srv.Endpoint, PartSize: 5 << 20, Concurrency: 2}
		f := &flipper{damage: damage}
		s3store.SetTransport(&o, f)
		s, err := s3store.New(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("db/damage-%v", damage)
		data := bytes.Repeat([]byte("0123456789abcdef"), (12<<20)/16)
		err = s.Put(context.Background(), key, bytes.NewReader(data), int64(len(data)))
		listed, lerr := s.List(context.Background(), "db")
		if lerr != nil {
			t.Fatal(lerr)
		}
		found := slices.ContainsFunc(listed, func(o store.Object) bool { return o.Key == key })
		switch {
		case !damage && (err != nil || !found):
			t.Fatalf("undamaged upload: err %v, listed %v", err, found)
		case damage && err == nil:
			t.Fatal("an upload whose second part was damaged on the way succeeded")
		case damage && !isCode(err, "BadDigest"):
			t.Fatalf("the damaged part was refused for another reason than its checksum: %v", err)
		case damage && found:
			t.Fatal("the damaged upload is listed")
		}
		if damage {
			if n := f.sent.Load(); n < 2 {
				t.Errorf("the damaged part was sent %d times; the SDK should send it again", n)
			}
			t.Logf("refused as it should be: %v", err)
		}
	}
}

func isCode(err error, code string) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == code
}

// A server that does not check part checksums (it answers without the
// sum, as S3-compatible servers from before S3's checksums do) gets every
// part with its payload signed instead, which it does check.
func TestPartsSignedWhenTheServerIgnoresChecksums(t *testing.T) {
	srv := testenv.StartS3(t, "unchecked")
	rt := &ignoresChecksums{signed: map[string]bool{}}
	o := s3store.Options{Bucket: "unchecked", Endpoint: srv.Endpoint, PartSize: 5 << 20, Concurrency: 2}
	s3store.SetTransport(&o, rt)
	s, err := s3store.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), (17<<20)/16)
	if err := s.Put(context.Background(), "db/x", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, part := range []string{"1", "2", "3", "4"} {
		if !rt.signed[part] {
			t.Errorf("part %s never went up signed (sent: %v)", part, rt.signed)
		}
	}
	r, err := s.Get(context.Background(), "db/x", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if back, err := io.ReadAll(r); err != nil || !bytes.Equal(back, data) {
		t.Fatalf("read back %d bytes (%v), not the %d put", len(back), err, len(data))
	}
}

// ignoresChecksums drops the server's echo of a part's checksum, and
// records which parts went up with a signed payload.
type ignoresChecksums struct {
	mu     sync.Mutex
	signed map[string]bool
}

func (c *ignoresChecksums) RoundTrip(r *http.Request) (*http.Response, error) {
	part := r.URL.Query().Get("partNumber")
	if part != "" {
		c.mu.Lock()
		c.signed[part] = c.signed[part] || r.Header.Get("X-Amz-Content-Sha256") != "UNSIGNED-PAYLOAD"
		c.mu.Unlock()
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && part != "" {
		resp.Header.Del("X-Amz-Checksum-Crc32c")
	}
	return resp, err
}

// flipper changes one byte in the body of every attempt to send part 2
// when damage is set, as a faulty link or middlebox might.
type flipper struct {
	damage bool
	sent   atomic.Int32 // attempts at part 2
}

func (f *flipper) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.damage && r.Method == http.MethodPut && r.URL.Query().Get("partNumber") == "2" {
		f.sent.Add(1)
		r.Body = &flipByte{ReadCloser: r.Body, at: 1000}
	}
	return http.DefaultTransport.RoundTrip(r)
}

type flipByte struct {
	io.ReadCloser
	at, read int64
}

func (f *flipByte) Read(p []byte) (int, error) {
	n, err := f.ReadCloser.Read(p)
	if f.at >= f.read && f.at < f.read+int64(n) {
		p[f.at-f.read] ^= 0x20
	}
	f.read += int64(n)
	return n, err
}
