package elastic

import (
	"context"
	"fmt"

	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/sanitise"
)

var _ engine.Sanitiser = (*Engine)(nil)

// Sanitise applies what of a rule set is left after the stream: nothing,
// for Elasticsearch. Field rules are applied to the documents as they
// stream in (RestorePlan); delete filters, update operations and verify
// filters are MongoDB's, and refused here rather than skipped.
func (e *Engine) Sanitise(ctx context.Context, staging string, rules *sanitise.Rules, _ string) (engine.SanitiseReport, error) {
	rep := engine.SanitiseReport{Rows: map[string]int64{}}
	for _, t := range rules.Collections {
		if len(t.DeleteFilter) > 0 || len(t.Rules) > 0 {
			return rep, engine.Permanent(fmt.Errorf("elasticsearch: rule %s: only field rules, applied as the documents stream in, sanitise indices; remove its delete_where", t.Name))
		}
	}
	if len(rules.MongoUpdates) > 0 || len(rules.MongoVerify) > 0 {
		return rep, engine.Permanent(fmt.Errorf("elasticsearch: mongo_updates and filter verifies are MongoDB's; remove them from %s", rules.Path))
	}
	return rep, nil
}
