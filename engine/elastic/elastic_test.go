package elastic_test

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/elastic"
	"github.com/envsync/envsync/internal/testenv/esdouble"
)

func target(t *testing.T, d *esdouble.Double, db string) engine.Target {
	t.Helper()
	hostport := strings.TrimPrefix(d.URL, "http://")
	i := strings.LastIndex(hostport, ":")
	port, _ := strconv.Atoi(hostport[i+1:])
	return engine.Target{Database: db, Host: hostport[:i], Port: port}
}

func seed(t *testing.T, d *esdouble.Double) {
	d.Call(t, "PUT", "/shop-orders", `{"settings":{"index":{"number_of_shards":"1"}},"mappings":{"properties":{"total":{"type":"double"}}}}`)
	d.Call(t, "PUT", "/shop-users", `{}`)
	d.Call(t, "PUT", "/other", `{}`)
	var bulk bytes.Buffer
	for i := 0; i < 2500; i++ {
		fmt.Fprintf(&bulk, "{\"index\":{\"_id\":\"o%d\"}}\n{\"total\":%d.5,\"tags\":[\"a\",%d],\"nested\":{\"x\":\"ü\"}}\n", i, i, i)
	}
	d.Call(t, "POST", "/shop-orders/_bulk", bulk.String())
	d.Call(t, "POST", "/shop-users/_bulk", "{\"index\":{\"_id\":\"u1\"}}\n{\"email\":\"a@example.org\"}\n")
	d.Call(t, "POST", "/other/_bulk", "{\"index\":{\"_id\":\"x\"}}\n{\"keep\":true}\n")
	d.Call(t, "POST", "/_aliases", `{"actions":[{"add":{"index":"shop-orders","alias":"orders-current"}}]}`)
}

// Export with a point in time (more than one page), bulk restore into new
// indices, one atomic alias swap; a second pull replaces the first
// generation; indices outside the dump are untouched; DELETE /_all never
// goes out.
func TestDumpRestoreSwap(t *testing.T) {
	d := esdouble.Start(t)
	seed(t, d)
	ctx := context.Background()
	e, err := elastic.New(target(t, d, "shop"), "shop-*", elastic.Options{Count: true})
	if err != nil {
		t.Fatal(err)
	}
	wantOrders, _ := d.Index("shop-orders")
	var archive bytes.Buffer
	info, err := e.Dump(ctx, &archive)
	if err != nil {
		t.Fatal(err)
	}
	if c := info.Counts; c == nil || c.Of != "index" || !c.Exact || fmt.Sprint(c.Tables) != "map[shop-orders:2500 shop-users:1]" {
		t.Fatalf("counts %+v, want the documents dumped per index", c)
	}
	for gen, staging := range []string{"shop_envsync_aaaa1111", "shop_envsync_bbbb2222"} {
		if _, err := e.Restore(ctx, bytes.NewReader(archive.Bytes()), staging, dump.Origin{}); err != nil {
			t.Fatal(err)
		}
		if got, err := e.Count(ctx, staging); err != nil || len(info.Counts.Compare(got)) != 0 {
			t.Errorf("generation %d: staging counts %v (%v), dump's %v", gen, got, err, info.Counts.Tables)
		}
		if err := e.Swap(ctx, staging, "l"); err != nil {
			t.Fatal(err)
		}
		sfx := staging[len("shop_envsync_"):]
		aliases := d.Aliases()
		if fmt.Sprint(aliases["shop-orders"]) != "[shop-orders-envsync-"+sfx+"]" || fmt.Sprint(aliases["orders-current"]) != "[shop-orders-envsync-"+sfx+"]" {
			t.Errorf("generation %d: aliases %v", gen, aliases)
		}
		got, _ := d.Index("shop-orders-envsync-" + sfx)
		if fmt.Sprint(got) != fmt.Sprint(wantOrders) || len(got) != 2500 {
			t.Errorf("generation %d: %d documents, equal %v", gen, len(got), fmt.Sprint(got) == fmt.Sprint(wantOrders))
		}
	}
	want := "[other shop-orders-envsync-bbbb2222 shop-users-envsync-bbbb2222]"
	if got := fmt.Sprint(d.Indices()); got != want {
		t.Errorf("indices %s, want %s", got, want)
	}
	for _, r := range d.Requests() {
		if strings.HasPrefix(r, "DELETE /_all") || r == "DELETE /*" {
			t.Errorf("sent %s", r)
		}
	}
	// Pushing from a pulled cluster exports the logical names again.
	var again bytes.Buffer
	if _, err := e.Dump(ctx, &again); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(again.String(), `"name":"shop-orders"`) || strings.Contains(again.String(), "envsync-bbbb") {
		t.Error("a dump of a pulled cluster carries envsync's internal index names")
	}
}

func TestTruncatedArchiveRefused(t *testing.T) {
	d := esdouble.Start(t)
	seed(t, d)
	ctx := context.Background()
	e, _ := elastic.New(target(t, d, "shop"), "shop-*", elastic.Options{})
	var archive bytes.Buffer
	if _, err := e.Dump(ctx, &archive); err != nil {
		t.Fatal(err)
	}
	before := fmt.Sprint(d.Indices(), d.Aliases())
	_, err := e.Restore(ctx, bytes.NewReader(archive.Bytes()[:archive.Len()/2]), "shop_envsync_cccc3333", dump.Origin{})
	if err == nil || !strings.Contains(err.Error(), "untouched") {
		t.Fatalf("error = %v", err)
	}
	if after := fmt.Sprint(d.Indices(), d.Aliases()); after != before {
		t.Errorf("cluster changed: %s -> %s", before, after)
	}
}

// es_snapshot: the repository is registered, the snapshot waited for until
// SUCCESS, only the newest N kept; PARTIAL and FAILED fail; a restore uses
// new names, checks counts and swaps aliases.
func TestSnapshots(t *testing.T) {
	d := esdouble.Start(t)
	seed(t, d)
	ctx := context.Background()
	e, _ := elastic.New(target(t, d, "shop"), "shop-*", elastic.Options{PollEvery: 10 * time.Millisecond})
	if err := e.EnsureRepository(ctx, "backups", ""); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing repository without a location: %v", err)
	}
	if err := e.EnsureRepository(ctx, "backups", "/srv/snapshots"); err != nil {
		t.Fatal(err)
	}
	var states []string
	base := time.Date(2026, 11, 20, 23, 30, 0, 0, time.UTC)
	for i := 0; i < 3; i++ {
		if _, err := e.CreateSnapshot(ctx, "backups", base.Add(time.Duration(i)*24*time.Hour), 2, func(s string) { states = append(states, s) }); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(d.Snapshots("backups")) != "[shop-2026-11-21t233000z shop-2026-11-22t233000z]" {
		t.Errorf("kept %v, want the newest 2", d.Snapshots("backups"))
	}
	if !strings.Contains(strings.Join(states, " "), "IN_PROGRESS SUCCESS") {
		t.Errorf("did not wait through IN_PROGRESS: %v", states)
	}
	for _, outcome := range []string{"PARTIAL", "FAILED"} {
		d.SetOutcome(outcome)
		_, err := e.CreateSnapshot(ctx, "backups", base.Add(time.Duration(len(outcome))*time.Hour), 2, nil)
		if err == nil || !strings.Contains(err.Error(), "ended "+outcome) || !engine.IsPermanent(err) {
			t.Errorf("%s snapshot: %v", outcome, err)
		}
	}
	d.SetOutcome("SUCCESS")
	snaps, err := e.Snapshots(ctx, "backups")
	if err != nil {
		t.Fatal(err)
	}
	var newest elastic.Snapshot
	for _, s := range snaps {
		if s.State == "SUCCESS" {
			newest = s
		}
	}
	if newest.Name != "shop-2026-11-22t233000z" {
		t.Fatalf("newest SUCCESS snapshot %q of %v", newest.Name, snaps)
	}
	d.Call(t, "POST", "/shop-users/_bulk", "{\"index\":{\"_id\":\"u2\"}}\n{\"email\":\"later@example.org\"}\n")
	if err := e.RestoreSnapshot(ctx, "backups", newest, "shop_envsync_dddd4444"); err != nil {
		t.Fatal(err)
	}
	if err := e.Swap(ctx, "shop_envsync_dddd4444", "l"); err != nil {
		t.Fatal(err)
	}
	users, _ := d.Index("shop-users-envsync-dddd4444")
	if len(users) != 1 || fmt.Sprint(d.Aliases()["shop-users"]) != "[shop-users-envsync-dddd4444]" {
		t.Errorf("restored users %v, aliases %v", users, d.Aliases())
	}
	if _, ok := d.Index("other"); !ok {
		t.Error("an index outside the snapshot is gone")
	}
}
