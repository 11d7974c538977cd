package s3store_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

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
		s3store.SetTransport(&o, flipper{damage: damage})
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
		case damage && found:
			t.Fatal("the damaged upload is listed")
		}
		if damage {
			t.Logf("refused as it should be: %v", err)
		}
	}
}

// flipper changes one byte in the body of every attempt to send part 2
// when damage is set, as a faulty link or middlebox might.
type flipper struct{ damage bool }

func (f flipper) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.damage && r.Method == http.MethodPut && r.URL.Query().Get("partNumber") == "2" {
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
