package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/envsync/envsync/engine/sanitise"
)

// Survey lists every index of the task's pattern with every field its
// mapping declares and the leaf paths of its first documents, and up to
// rows values of each: for `envsync sanitise init` and a push's check of
// its pulls' rule sets (rows 0: names only). Values stay on this worker.
func (e *Engine) Survey(ctx context.Context, rows int) ([]sanitise.Sample, error) {
	metas, err := e.metas(ctx, e.indices)
	if err != nil {
		return nil, err
	}
	var out []sanitise.Sample
	for _, m := range metas {
		if len(out) > 0 && out[len(out)-1].Table == m.Name {
			continue // a staged generation beside the live index (metas puts that first): one is enough
		}
		s := sanitise.Sample{Table: m.Name}
		at := map[string]int{}
		col := func(path string) int {
			i, ok := at[path]
			if !ok {
				i = len(s.Columns)
				at[path] = i
				s.Columns = append(s.Columns, sanitise.SampleColumn{Name: path})
			}
			return i
		}
		var mp struct {
			Properties map[string]json.RawMessage `json:"properties"`
		}
		_ = json.Unmarshal(m.Mappings, &mp)
		mappedFields("", mp.Properties, func(p string) { col(p) })
		read := 0
		err := e.readDocs(ctx, m.Index, max(rows, 100), func(_ string, src json.RawMessage) (bool, error) {
			dec := json.NewDecoder(bytes.NewReader(src))
			dec.UseNumber()
			var doc map[string]any
			if dec.Decode(&doc) != nil {
				return false, fmt.Errorf("elasticsearch: a document of %s is not a JSON object", m.Index)
			}
			sanitise.Leaves(doc, "", func(p string, v any) {
				c := &s.Columns[col(p)]
				if v != nil && len(c.Values) < rows {
					c.Values = append(c.Values, []byte(fmt.Sprint(v)))
				}
			})
			read++
			return read < max(rows, 100), nil
		})
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// mappedFields calls f with each leaf field a mapping declares.
func mappedFields(prefix string, props map[string]json.RawMessage, f func(string)) {
	names := make([]string, 0, len(props))
	for n := range props {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		var p struct {
			Properties map[string]json.RawMessage `json:"properties"`
		}
		_ = json.Unmarshal(props[n], &p)
		if len(p.Properties) > 0 {
			mappedFields(prefix+n+".", p.Properties, f)
			continue
		}
		f(prefix + n)
	}
}
