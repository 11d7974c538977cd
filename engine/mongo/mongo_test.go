package mongo_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"sort"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	driver "go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/mongo"
	"github.com/envsync/envsync/internal/testenv"
)

func client(t *testing.T, m *testenv.Mongo) *driver.Client {
	t.Helper()
	c, err := driver.Connect(context.Background(), options.Client().ApplyURI(m.URI))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(context.Background()) })
	return c
}

// snapshot is every collection's documents (raw BSON, sorted by _id) and
// index names, as bytes to compare.
func snapshot(t *testing.T, db *driver.Database) map[string]string {
	t.Helper()
	ctx := context.Background()
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, n := range names {
		if strings.HasPrefix(n, "envsync.") || strings.HasPrefix(n, "system.") {
			continue
		}
		cur, err := db.Collection(n).Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		for cur.Next(ctx) {
			b.Write(cur.Current)
		}
		cur.Close(ctx)
		specs, _ := db.Collection(n).Indexes().ListSpecifications(ctx)
		var idx []string
		for _, s := range specs {
			idx = append(idx, fmt.Sprintf("%s%s unique=%v", s.Name, s.KeysDocument, s.Unique != nil && *s.Unique))
		}
		sort.Strings(idx)
		out[n] = fmt.Sprintf("%x %v", b.Bytes(), idx)
	}
	return out
}

// A round trip keeps every document byte for byte (nested documents,
// arrays, ObjectIDs, dates, binary, int64 vs double, null) and the indexes;
// a collection only in the old target is gone afterwards.
func TestRoundTrip(t *testing.T) {
	m := testenv.StartMongo(t)
	ctx := context.Background()
	c := client(t, m)
	src := c.Database("shop")
	when := time.Date(2026, 11, 25, 23, 30, 0, 0, time.UTC)
	var docs []any
	for i := 0; i < 2500; i++ {
		docs = append(docs, bson.D{
			{Key: "_id", Value: primitive.NewObjectIDFromTimestamp(when.Add(time.Duration(i) * time.Second))},
			{Key: "email", Value: fmt.Sprintf("user%d@example.org", i)},
			{Key: "n64", Value: int64(i) << 33}, {Key: "f", Value: float64(i) / 3}, {Key: "i32", Value: int32(i)},
			{Key: "when", Value: primitive.NewDateTimeFromTime(when.Add(time.Duration(i) * time.Minute))},
			{Key: "blob", Value: primitive.Binary{Subtype: 0, Data: []byte{0, byte(i), 0xff}}},
			{Key: "profile", Value: bson.D{{Key: "name", Value: "N"}, {Key: "tags", Value: bson.A{"a", int32(i), bson.D{{Key: "deep", Value: true}}}}}},
			{Key: "nothing", Value: nil},
		})
	}
	if _, err := src.Collection("users").InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Collection("users").Indexes().CreateMany(ctx, []driver.IndexModel{
		{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetUnique(true).SetName("email_unique")},
		{Keys: bson.D{{Key: "profile.name", Value: 1}, {Key: "when", Value: -1}}, Options: options.Index().SetName("name_when")},
	}); err != nil {
		t.Fatal(err)
	}
	src.Collection("orders").InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "total", Value: 9.5}})
	dst := c.Database("shop_copy")
	dst.Collection("only_in_old").InsertOne(ctx, bson.D{{Key: "x", Value: 1}})
	dst.Collection("users").InsertOne(ctx, bson.D{{Key: "stale", Value: true}})

	var archive bytes.Buffer
	target := engine.Target{Database: "shop", Host: "127.0.0.1"}
	fmt.Sscanf(m.Addr[strings.LastIndex(m.Addr, ":")+1:], "%d", &target.Port)
	if skip, err := mongo.New(target, mongo.Options{}).Preflight(ctx, "push"); err != nil || skip != "" {
		t.Fatalf("preflight on a standalone server: %q %v", skip, err)
	}
	info, err := mongo.New(target, mongo.Options{Count: true}).Dump(ctx, &archive)
	if err != nil {
		t.Fatal(err)
	}
	if c := info.Counts; c == nil || !c.Exact || c.Of != "collection" || c.Note == "" || !maps.Equal(c.Tables, map[string]int64{"users": 2500, "orders": 1}) {
		t.Errorf("counts %+v, want users 2500 and orders 1 as dumped, with the caveat", c)
	}
	target.Database = "shop_copy"
	e := mongo.New(target, mongo.Options{})
	if _, err := e.Restore(ctx, bytes.NewReader(archive.Bytes()), "shop_copy_envsync_1", dump.Origin{}); err != nil {
		t.Fatal(err)
	}
	if got, err := e.Count(ctx, "shop_copy_envsync_1"); err != nil || len(info.Counts.Compare(got)) != 0 {
		t.Errorf("staging counts %v (%v), dump's %v", got, err, info.Counts.Tables)
	}
	if n, _ := dst.Collection("users").CountDocuments(ctx, bson.D{{Key: "stale", Value: true}}); n != 1 {
		t.Fatal("restore touched the live collection before the swap")
	}
	if err := e.Swap(ctx, "shop_copy_envsync_1", "envsync: k r"); err != nil {
		t.Fatal(err)
	}
	want, got := snapshot(t, src), snapshot(t, dst)
	if len(want) != 2 {
		t.Fatalf("source snapshot %v", len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("collection %s differs (%d vs %d bytes of snapshot)", k, len(v), len(got[k]))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("collection %s only in the copy", k)
		}
	}
	if err := e.Swap(ctx, "shop_copy_envsync_1", "envsync: k r"); err != nil {
		t.Errorf("retried swap: %v", err)
	}
}

// A truncated archive is refused and the live collections stay as they were.
func TestTruncatedArchiveRefused(t *testing.T) {
	m := testenv.StartMongo(t)
	ctx := context.Background()
	c := client(t, m)
	c.Database("a").Collection("c").InsertMany(ctx, []any{bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "_id", Value: 2}}})
	c.Database("b").Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: "kept"}})
	target := engine.Target{Database: "a", Host: "127.0.0.1"}
	fmt.Sscanf(m.Addr[strings.LastIndex(m.Addr, ":")+1:], "%d", &target.Port)
	var archive bytes.Buffer
	if _, err := mongo.New(target, mongo.Options{}).Dump(ctx, &archive); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, c.Database("b"))
	target.Database = "b"
	_, err := mongo.New(target, mongo.Options{}).Restore(ctx, bytes.NewReader(archive.Bytes()[:archive.Len()-10]), "b_envsync_1", dump.Origin{})
	if err == nil || !strings.Contains(err.Error(), "untouched") {
		t.Fatalf("error = %v", err)
	}
	after := snapshot(t, c.Database("b"))
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("live changed: %v -> %v", before, after)
	}
}
