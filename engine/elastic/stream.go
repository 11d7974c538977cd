package elastic

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/envsync/envsync/engine/sanitise"
)

// expectMapped tells the plan every field an index's mapping declares
// (properties, nested properties and multi-fields' parents), so a mapped
// field no rule covers fails the restore before any document is loaded.
func expectMapped(t *sanitise.TableRows, mappings json.RawMessage) {
	var m struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if json.Unmarshal(mappings, &m) != nil {
		return
	}
	mappedFields("", m.Properties, t.Expect)
}

// sanitiseSource applies a plan to one document's _source: every leaf
// value, by its field path, goes through the rule covering it. It returns
// the source to load, or false to leave the document out.
func sanitiseSource(t *sanitise.TableRows, src json.RawMessage) (json.RawMessage, bool, error) {
	if !t.Document() {
		return nil, false, nil
	}
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, false, fmt.Errorf("read a document: %w", err)
	}
	changed := false
	for k, v := range doc {
		doc[k] = walkJSON(t, k, v, &changed)
	}
	if !t.Done(changed) {
		return nil, false, nil
	}
	if !changed {
		return src, true, nil
	}
	out, err := json.Marshal(doc)
	return out, true, err
}

func walkJSON(t *sanitise.TableRows, path string, v any, changed *bool) any {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			x[k] = walkJSON(t, path+"."+k, c, changed)
		}
		return x
	case []any:
		for i := range x {
			x[i] = walkJSON(t, path, x[i], changed)
		}
		return x
	}
	in := sanitise.Value{Null: v == nil}
	switch x := v.(type) {
	case string:
		in.B = []byte(x)
	case json.Number:
		in.B = []byte(x.String())
	case bool:
		in.B = []byte(fmt.Sprint(x))
	}
	out, c := t.Field(path, in)
	if !c {
		return v
	}
	*changed = true
	if out.Null {
		return nil
	}
	return string(out.B)
}
