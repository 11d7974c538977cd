package mongo_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/mongo"
	"github.com/envsync/envsync/engine/sanitise/sanitisetest"
	"github.com/envsync/envsync/internal/testenv"
)

// Fixed, rewrite and redact values that read like SQL, quotes, $1, $set,
// backslashes or LIKE wildcards reach the documents byte for byte: fixed is
// a $set of a plain string, rewrite and redact run in Go.
func TestSanitiseWritesValuesVerbatim(t *testing.T) {
	m := testenv.StartMongo(t)
	ctx := context.Background()
	c := client(t, m)
	cols := sanitisetest.Columns()
	var docs []any
	for i, row := range sanitisetest.Before() {
		doc := bson.D{{Key: "_id", Value: i}}
		for j, v := range row {
			doc = append(doc, bson.E{Key: cols[j], Value: v})
		}
		docs = append(docs, doc)
	}
	if _, err := c.Database("shop").Collection(sanitisetest.Table).InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	// users is the collection the DROP TABLE value names; it must survive.
	if _, err := c.Database("shop").Collection("users").InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}

	target := engine.Target{Database: "shop", Host: "127.0.0.1"}
	fmt.Sscanf(m.Addr[strings.LastIndex(m.Addr, ":")+1:], "%d", &target.Port)
	e := mongo.New(target, mongo.Options{})
	var archive bytes.Buffer
	if _, err := e.Dump(ctx, &archive); err != nil {
		t.Fatal(err)
	}
	const staging = "shop" + engine.StagingMarker + "1"
	if _, err := e.Restore(ctx, &archive, staging, dump.Origin{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Sanitise(ctx, staging, sanitisetest.Rules(t, "collections"), ""); err != nil {
		t.Fatal(err)
	}
	if err := e.Swap(ctx, staging, "envsync: k r"); err != nil {
		t.Fatal(err)
	}

	cur, err := c.Database("shop").Collection(sanitisetest.Table).Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close(ctx)
	var got [][]string
	for cur.Next(ctx) {
		vals := make([]string, len(cols))
		for j, col := range cols {
			v, ok := cur.Current.Lookup(col).StringValueOK()
			if !ok {
				t.Errorf("document %v, %s: %v, not a string", cur.Current.Lookup("_id"), col, cur.Current.Lookup(col))
			}
			vals[j] = v
		}
		got = append(got, vals)
	}
	if err := cur.Err(); err != nil {
		t.Fatal(err)
	}
	sanitisetest.Compare(t, got)
	if n, err := c.Database("shop").Collection("users").CountDocuments(ctx, bson.D{}); err != nil || n != 1 {
		t.Errorf("collection users holds %d documents (%v), want 1", n, err)
	}
}
