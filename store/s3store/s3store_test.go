package s3store_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/envsync/envsync/internal/testenv"
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
