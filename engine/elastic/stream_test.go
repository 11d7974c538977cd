package elastic_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine/elastic"
	"github.com/envsync/envsync/engine/sanitise"
	"github.com/envsync/envsync/internal/testenv/esdouble"
)

// Documents pass through the plan on their way into the staged indices:
// e-mail addresses pseudonymous (nested too), a mapped field no rule
// covers fails the restore before any document is loaded, naming it;
// unlisted: keep lets it through.
func TestRestoreThroughAPlan(t *testing.T) {
	d := esdouble.Start(t)
	d.Call(t, "PUT", "/crm-people", `{"mappings":{"properties":{"email":{"type":"keyword"},"profile":{"properties":{"name":{"type":"text"},"ni":{"type":"keyword"}}}}}}`)
	var bulk bytes.Buffer
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&bulk, "{\"index\":{\"_id\":\"p%d\"}}\n{\"email\":\"person%d@real.example\",\"profile\":{\"name\":\"Jane %d\",\"ni\":\"AB1234%02dC\"}}\n", i, i, i, i)
	}
	d.Call(t, "POST", "/crm-people/_bulk", bulk.String())
	ctx := context.Background()
	e, err := elastic.New(target(t, d, "crm"), "crm-*", elastic.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var archive bytes.Buffer
	if _, err := e.Dump(ctx, &archive); err != nil {
		t.Fatal(err)
	}
	plan := func(rules string) *sanitise.Plan {
		r, err := sanitise.Parse("rules.yaml", []byte(rules))
		if err != nil {
			t.Fatal(err)
		}
		p, err := sanitise.NewPlan(r, "a-test-key-of-some-length", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	_, err = e.RestorePlan(ctx, bytes.NewReader(archive.Bytes()), "crm_envsync_aaaa1111", dump.Origin{},
		plan("collections:\n  crm-people:\n    email: email\n    profile.name: name\n"))
	if err == nil || !strings.Contains(err.Error(), "does not name crm-people.profile.ni") {
		t.Fatalf("error %v; want the unmapped profile.ni named", err)
	}
	if _, ok := d.Index("crm-people-envsync-aaaa1111"); ok {
		t.Error("the failed restore left its staged index")
	}
	p := plan("collections:\n  crm-people:\n    email: email\n    profile.name: name\n    profile.ni: digits\n")
	if _, err := e.RestorePlan(ctx, bytes.NewReader(archive.Bytes()), "crm_envsync_bbbb2222", dump.Origin{}, p); err != nil {
		t.Fatal(err)
	}
	docs, _ := d.Index("crm-people-envsync-bbbb2222")
	got := fmt.Sprint(docs)
	if len(docs) != 50 || strings.Contains(got, "real.example") || strings.Contains(got, "Jane") || strings.Contains(got, "AB1234") || !strings.Contains(got, "anonymous-") {
		t.Errorf("%d documents: %.300s", len(docs), got)
	}
	if r := p.Report().Tables["crm-people"]; r == nil || r.Transformed != 50 {
		t.Errorf("report %+v", r)
	}

	// sanitise init: every mapped field, found by content; its rule set
	// restores.
	samples, err := e.Survey(ctx, 20)
	if err != nil {
		t.Fatal(err)
	}
	init := string(sanitise.Suggest(samples, true, time.Now()).YAML(""))
	if !strings.Contains(init, "collections:\n  crm-people:\n    email: email") || !strings.Contains(init, "    profile.ni: digits  # sampled values were National Insurance numbers (20 of 20)") ||
		!strings.Contains(init, "    profile.name: keep") || strings.Contains(init, "real.example") {
		t.Errorf("sanitise init wrote:\n%s", init)
	}
	if _, err := e.RestorePlan(ctx, bytes.NewReader(archive.Bytes()), "crm_envsync_cccc3333", dump.Origin{}, plan(init)); err != nil {
		t.Errorf("restore through the rule set sanitise init wrote: %v", err)
	}
}
