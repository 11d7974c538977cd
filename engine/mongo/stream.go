package mongo

import (
	"fmt"
	"strconv"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"github.com/envsync/envsync/engine/sanitise"
)

// sanitiseDoc applies a plan to one document of the archive: every leaf
// value, by its field path, goes through the rule covering it (a field no
// rule covers fails the plan). Strings are transformed as text; a number
// or other scalar a rule replaces becomes the rule's string (null: null).
func sanitiseDoc(t *sanitise.TableRows, raw []byte) ([]byte, bool, error) {
	if !t.Document() {
		return nil, false, nil
	}
	var doc bson.D
	if err := bson.Unmarshal(raw, &doc); err != nil {
		return nil, false, fmt.Errorf("read a document: %w", err)
	}
	changed := false
	for i := range doc {
		doc[i].Value = walk(t, doc[i].Key, doc[i].Value, &changed)
	}
	if !t.Done(changed) {
		return nil, false, nil
	}
	if !changed {
		return raw, true, nil
	}
	out, err := bson.Marshal(doc)
	return out, true, err
}

// walk sanitises v, at path, and what is below it.
func walk(t *sanitise.TableRows, path string, v any, changed *bool) any {
	switch x := v.(type) {
	case bson.D:
		for i := range x {
			x[i].Value = walk(t, path+"."+x[i].Key, x[i].Value, changed)
		}
		return x
	case bson.A:
		for i := range x {
			x[i] = walk(t, path, x[i], changed)
		}
		return x
	}
	in := sanitise.Value{B: []byte(text(v)), Null: v == nil}
	if _, ok := v.(primitive.Null); ok {
		in.Null = true
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

// text is a scalar as the rules and the scanner read it.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int32:
		return strconv.Itoa(int(x))
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case primitive.DateTime:
		return x.Time().UTC().Format("2006-01-02T15:04:05.000Z")
	case primitive.ObjectID:
		return x.Hex()
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}
