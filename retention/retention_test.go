package retention

import (
	"slices"
	"testing"
	"time"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/store"
)

var now = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

// listing is n complete dumps of db under p, one a day, the newest a day
// old, plus whatever else is given.
func listing(p, db string, n int, extra ...store.Object) []store.Object {
	var out []store.Object
	for i := range n {
		t := now.Add(-time.Duration(i+1) * 24 * time.Hour)
		k := dump.Key(p, db, t, dump.Zstd)
		out = append(out, store.Object{Key: k, Size: 100, Modified: t}, store.Object{Key: dump.ManifestKey(k), Size: 1, Modified: t})
	}
	return append(out, extra...)
}

func removed(p Plan) []string {
	var out []string
	for _, r := range p.Remove {
		out = append(out, r.Key)
	}
	return out
}

func dayKey(p, db string, daysAgo int) string {
	return dump.Key(p, db, now.Add(-time.Duration(daysAgo)*24*time.Hour), dump.Zstd)
}

func TestDecide(t *testing.T) {
	p := "pg"
	orphan := store.Object{Key: dump.Key(p, "orders", now.Add(-50*time.Hour), dump.Zstd), Size: 7, Modified: now.Add(-50 * time.Hour)}
	young := store.Object{Key: dump.Key(p, "orders", now.Add(-time.Hour), dump.Zstd), Size: 7, Modified: now.Add(-time.Hour)}
	foreign := []store.Object{{Key: "pg/README", Modified: now.Add(-999 * time.Hour)}, {Key: "pg/sub/x.zst", Modified: now.Add(-999 * time.Hour)}}
	hk := HoldKey(p, dayKey(p, "orders", 4), PullHolder("run1"))
	fk := HoldKey(p, dayKey(p, "orders", 5), Forever)
	xk := HoldKey(p, dayKey(p, "orders", 6), PullHolder("run0"))
	holds := map[string]Hold{
		hk: {Key: dayKey(p, "orders", 4), Holder: PullHolder("run1"), Expires: now.Add(time.Hour)},
		fk: {Key: dayKey(p, "orders", 5), Holder: Forever},
		xk: {Key: dayKey(p, "orders", 6), Holder: PullHolder("run0"), Expires: now.Add(-time.Hour)},
	}
	holdObjs := []store.Object{{Key: hk}, {Key: fk}, {Key: xk}}
	for _, tc := range []struct {
		name   string
		objs   []store.Object
		holds  map[string]Hold
		policy Policy
		want   []string
	}{
		{"keep 2", listing(p, "orders", 4), nil, Policy{Keep: 2}, []string{dayKey(p, "orders", 4), dayKey(p, "orders", 3)}},
		{"keep days", listing(p, "orders", 4), nil, Policy{KeepDays: 2}, []string{dayKey(p, "orders", 4), dayKey(p, "orders", 3)}},
		{"both must agree", listing(p, "orders", 4), nil, Policy{Keep: 1, KeepDays: 3}, []string{dayKey(p, "orders", 4)}},
		{"newest always stays", listing(p, "orders", 3), nil, Policy{KeepDays: 0, Keep: 0}, nil},
		{"newest even when old", listing(p, "orders", 2), nil, Policy{KeepDays: 0, Keep: 1}, []string{dayKey(p, "orders", 2)}},
		{"newest older than keep_days", listing(p, "orders", 1), nil, Policy{KeepDays: 0}, nil},
		{"other databases untouched", listing(p, "orders", 1, listing(p, "shop", 3)...), nil, Policy{Keep: 1}, nil},
		{"holds protect, expired ones do not", listing(p, "orders", 6, holdObjs...), holds, Policy{Keep: 1},
			[]string{dayKey(p, "orders", 6), dayKey(p, "orders", 3), dayKey(p, "orders", 2)}},
		{"old orphans go, young ones and foreign files stay", listing(p, "orders", 1, append(foreign, orphan, young)...), nil, Policy{}, []string{orphan.Key}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := removed(Decide(p, "orders", tc.objs, tc.holds, tc.policy, now))
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("removed %v, want %v", got, want)
			}
		})
	}
	plan := Decide(p, "orders", listing(p, "orders", 6, holdObjs...), holds, Policy{Keep: 1}, now)
	if len(plan.Protected) != 2 || plan.Protected[0].Reason == "" || len(plan.ExpiredHolds) != 1 || plan.ExpiredHolds[0] != xk {
		t.Fatalf("protected %+v, expired %v", plan.Protected, plan.ExpiredHolds)
	}
	for _, r := range plan.Remove {
		if r.Reason != "beyond keep 1" || r.Bytes != 101 {
			t.Errorf("%s: reason %q, %d bytes", r.Key, r.Reason, r.Bytes)
		}
	}
	if r := Decide(p, "orders", listing(p, "orders", 5), nil, Policy{Keep: 2, KeepDays: 3}, now).Remove; len(r) != 2 || r[0].Reason != "beyond keep 2, older than 3 days" {
		t.Fatalf("reasons: %+v", r)
	}
}

func TestHoldKeyIsNoDump(t *testing.T) {
	k := HoldKey("pg", dayKey("pg", "orders", 1), PullHolder("r"))
	if _, _, ok := dump.Parse("pg", k); ok || !IsHoldKey("pg", k) {
		t.Fatalf("hold key %s: parsed as a dump, or not a hold", k)
	}
	if IsHoldKey("pg", dayKey("pg", "orders", 1)) {
		t.Fatal("a dump key is taken for a hold")
	}
}

// The newest dump that passed a restore drill stays while no newer one has
// passed, and its evidence goes with it once a newer one has; evidence
// whose dump is gone is an orphan. Every dump that stays says why.
func TestDecideKeepsTheNewestDrilledDump(t *testing.T) {
	p := "pg"
	evidence := func(daysAgo int) store.Object {
		return store.Object{Key: dump.DrillKey(dayKey(p, "orders", daysAgo)), Size: 3, Modified: now}
	}
	gone := store.Object{Key: dump.DrillKey(dayKey(p, "orders", 30)), Size: 3, Modified: now}
	plan := Decide(p, "orders", listing(p, "orders", 5, evidence(4), evidence(5), gone), nil, Policy{Keep: 2}, now)
	want := []string{dayKey(p, "orders", 3), dayKey(p, "orders", 5), gone.Key}
	slices.Sort(want)
	if got := removed(plan); !slices.Equal(got, want) {
		t.Fatalf("removed %v, want %v", got, want)
	}
	if len(plan.Protected) != 1 || plan.Protected[0].Key != dayKey(p, "orders", 4) {
		t.Fatalf("protected %+v, want the dump of 4 days ago (the newest drilled)", plan.Protected)
	}
	for _, r := range plan.Remove {
		if r.Key == dayKey(p, "orders", 5) && r.Evidence != evidence(5).Key {
			t.Errorf("the pruned drilled dump's evidence is not removed with it: %+v", r)
		}
	}
	for k, want := range map[string]string{dayKey(p, "orders", 1): "the newest complete dump always stays", dayKey(p, "orders", 2): "within keep 2"} {
		if plan.Stay[k] != want {
			t.Errorf("stay reason of %s: %q, want %q", k, plan.Stay[k], want)
		}
	}

	// A newer drill lifts the protection.
	plan = Decide(p, "orders", listing(p, "orders", 5, evidence(4), evidence(1)), nil, Policy{Keep: 2}, now)
	want = []string{dayKey(p, "orders", 5), dayKey(p, "orders", 4), dayKey(p, "orders", 3)}
	if got := removed(plan); !slices.Equal(got, want) {
		t.Fatalf("with a newer drill: removed %v, want %v", got, want)
	}
}
