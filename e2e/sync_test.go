package e2e

import (
	"bytes"
	"context"
	"io"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/starter"
)

func (e *env) putObject(t *testing.T, b, key string, body []byte) {
	t.Helper()
	if _, err := e.s3.Client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) getObject(t *testing.T, b, key string) []byte {
	t.Helper()
	out, err := e.s3.Client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get s3://%s/%s: %v", b, key, err)
	}
	defer out.Body.Close()
	body, _ := io.ReadAll(out.Body)
	return body
}

func (e *env) keys(t *testing.T, b string) []string {
	t.Helper()
	out, err := e.s3.Client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(b)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, *o.Key)
	}
	sort.Strings(keys)
	return keys
}

// s3_sync copies complete dumps with their manifests (byte for byte),
// skips data without a manifest and dumps whose data does not match, deletes
// what the source no longer has when asked, changes nothing the second time,
// and staging restores from the copy.
func TestS3Sync(t *testing.T) {
	e := newEnv(t, true)
	if _, err := e.s3.Client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("replica")}); err != nil {
		t.Fatal(err)
	}
	e.createShop("shop")
	first := e.mustRun(starter.Request{Task: e.task(config.ActionPush, "shop", "s3")}).Push
	time.Sleep(1100 * time.Millisecond)
	second := e.mustRun(starter.Request{Task: e.task(config.ActionPush, "shop", "s3")}).Push

	// Not dumps, or not complete ones: never copied.
	e.putObject(t, bucket, "postgresql/notes.txt", []byte("hello"))
	e.putObject(t, bucket, "postgresql/2026-01-01T000000Z-shop.gz", []byte("data without a manifest"))
	// A dump whose data does not match its manifest.
	bad := dump.Key("postgresql", "shop", time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), dump.Zstd)
	m, _ := dump.UnmarshalManifest(dump.ManifestKey(first.Key), e.getObject(t, bucket, dump.ManifestKey(first.Key)))
	m.Key = bad
	body, _ := m.Marshal()
	e.putObject(t, bucket, bad, append(e.getObject(t, bucket, first.Key), 'x'))
	e.putObject(t, bucket, dump.ManifestKey(bad), body)
	// A dump only in the target.
	stale := dump.Key("replica", "shop", time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), dump.Zstd)
	m.Key = stale
	body, _ = m.Marshal()
	e.putObject(t, "replica", stale, []byte("old"))
	e.putObject(t, "replica", dump.ManifestKey(stale), body)

	sync := config.Task{Name: "replicate", Action: config.ActionS3Sync, StorageBackend: "s3", URL: bucket, Path: "postgresql",
		TargetURL: "replica", TargetPath: "replica", Delete: true, WorkerHost: "db1"}
	res := e.mustRun(starter.Request{Task: sync}).Sync
	if len(res.Copied) != 2 || len(res.Skipped) != 1 || res.Skipped[0].Key != bad || len(res.Deleted) != 1 {
		t.Fatalf("first sync: %+v", res)
	}
	want := []string{}
	for _, k := range []string{first.Key, second.Key} {
		name := strings.TrimPrefix(k, "postgresql/")
		want = append(want, "replica/"+name, "replica/"+name+dump.ManifestSuffix)
		if !bytes.Equal(e.getObject(t, "replica", "replica/"+name), e.getObject(t, bucket, k)) {
			t.Errorf("%s differs from its source", name)
		}
		if _, err := dump.UnmarshalManifest("replica/"+name+dump.ManifestSuffix, e.getObject(t, "replica", "replica/"+name+dump.ManifestSuffix)); err != nil {
			t.Errorf("copied manifest: %v", err)
		}
	}
	sort.Strings(want)
	if got := e.keys(t, "replica"); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("replica holds %v, want %v", got, want)
	}

	again := e.mustRun(starter.Request{Task: sync}).Sync
	if len(again.Copied) != 0 || len(again.Unchanged) != 2 || len(again.Deleted) != 0 {
		t.Errorf("second sync: %+v", again)
	}

	e.exec("postgres", "CREATE DATABASE shop_staging")
	pull := e.task(config.ActionPull, "shop_staging", "s3")
	pull.URL, pull.Path, pull.SourceDatabase = "replica", "replica", "shop"
	pulled := e.mustRun(starter.Request{Task: pull}).Pull
	if pulled.Key != "replica/"+strings.TrimPrefix(second.Key, "postgresql/") {
		t.Errorf("staging restored %s", pulled.Key)
	}
	sameRows(t, e.rows("shop"), e.rows("shop_staging"))
}
