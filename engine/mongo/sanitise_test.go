package mongo_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/mongo"
	"github.com/envsync/envsync/engine/sanitise"
	"github.com/envsync/envsync/engine/sanitise/sanitisetest"
	"github.com/envsync/envsync/internal/testenv"
)

// Fixed, rewrite and redact values that read like SQL, quotes, $1, $set,
// backslashes or LIKE wildcards reach the documents byte for byte: the
// documents are sanitised in Go as they stream in.
func TestPlanWritesValuesVerbatim(t *testing.T) {
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
	rules := sanitisetest.Rules(t, "collections")
	rules.Unlisted = sanitise.UnlistedKeep // _id, and collection users
	plan, err := sanitise.NewPlan(rules, "a-test-key-of-some-length", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.RestorePlan(ctx, &archive, staging, dump.Origin{}, plan); err != nil {
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

// A field the documents carry that no rule covers (a nested one too)
// fails the restore naming it, before the staged collections could be
// swapped in; they are dropped. A personal value in a kept field fails
// naming its kind.
func TestPlanFailsClosedOnFields(t *testing.T) {
	m := testenv.StartMongo(t)
	ctx := context.Background()
	c := client(t, m)
	var docs []any
	for i := range 20 {
		docs = append(docs, bson.D{{Key: "_id", Value: i}, {Key: "email", Value: fmt.Sprintf("p%d@real.example", i)},
			{Key: "profile", Value: bson.D{{Key: "ni", Value: fmt.Sprintf("AB1234%02dC", i)}}}})
	}
	if _, err := c.Database("crm").Collection("people").InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	target := engine.Target{Database: "crm", Host: "127.0.0.1"}
	fmt.Sscanf(m.Addr[strings.LastIndex(m.Addr, ":")+1:], "%d", &target.Port)
	e := mongo.New(target, mongo.Options{})
	var archive bytes.Buffer
	if _, err := e.Dump(ctx, &archive); err != nil {
		t.Fatal(err)
	}
	// sanitise init: field paths as the restore names them, found by
	// content; its rule set restores.
	samples, err := e.Survey(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	init := string(sanitise.Suggest(samples, true, time.Now()).YAML(""))
	if !strings.Contains(init, "collections:\n  people:\n    _id: keep\n    email: email  # the name says e-mail address; sampled values were e-mail addresses (10 of 10)\n    profile.ni: digits") {
		t.Errorf("sanitise init wrote:\n%s", init)
	}
	r, err := sanitise.Parse("init.yaml", []byte(init))
	if err != nil {
		t.Fatal(err)
	}
	p, err := sanitise.NewPlan(r, "a-test-key-of-some-length", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.RestorePlan(ctx, bytes.NewReader(archive.Bytes()), "crm"+engine.StagingMarker+"2", dump.Origin{}, p); err != nil {
		t.Errorf("restore through the rule set sanitise init wrote: %v", err)
	}
	_ = e.Drop(ctx, "crm"+engine.StagingMarker+"2")
	for rules, want := range map[string]string{
		"collections:\n  people:\n    _id: keep\n    email: email\n":                     "does not name people.profile.ni",
		"collections:\n  people:\n    _id: keep\n    email: keep\n    profile: digits\n": "people.email: email in 20 values",
	} {
		r, err := sanitise.Parse("rules.yaml", []byte(rules))
		if err != nil {
			t.Fatal(err)
		}
		plan, err := sanitise.NewPlan(r, "a-test-key-of-some-length", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		const staging = "crm" + engine.StagingMarker + "1"
		_, err = e.RestorePlan(ctx, bytes.NewReader(archive.Bytes()), staging, dump.Origin{}, plan)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "real.example") {
			t.Errorf("error %v; want it to name %q and no value", err, want)
		}
		names, _ := c.Database("crm").ListCollectionNames(ctx, bson.D{})
		for _, n := range names {
			if strings.Contains(n, engine.StagingMarker) {
				t.Errorf("staged collection %s left", n)
			}
		}
	}
}
