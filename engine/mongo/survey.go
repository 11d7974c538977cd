package mongo

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/envsync/envsync/engine/sanitise"
)

// surveyDocs is how many documents per collection a survey reads to learn
// the field paths, when it is not asked for more.
const surveyDocs = 1000

// Survey lists every collection of the database with the field paths its
// documents carry (leaf paths, as a sanitised restore names them: arrays
// by their field's path) and up to rows values of each: for `envsync
// sanitise init` and a push's check of its pulls' rule sets (rows 0: paths
// only, from the first documents of each collection). Values stay on this
// worker.
func (e *Engine) Survey(ctx context.Context, rows int) ([]sanitise.Sample, error) {
	c, err := e.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Disconnect(context.WithoutCancel(ctx))
	db := c.Database(e.t.Database)
	specs, err := db.ListCollectionSpecifications(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("mongo: list collections of %s: %w", e.t.Database, err)
	}
	var out []sanitise.Sample
	for _, s := range specs {
		if s.Type != "collection" || !userCollection(s.Name) {
			continue
		}
		cur, err := db.Collection(s.Name).Find(ctx, bson.D{}, options.Find().SetLimit(int64(max(rows, surveyDocs))))
		if err != nil {
			return nil, fmt.Errorf("mongo: sample %s.%s: %w", e.t.Database, s.Name, err)
		}
		fields := newFields()
		for cur.Next(ctx) {
			var doc bson.D
			if err := bson.Unmarshal(cur.Current, &doc); err != nil {
				cur.Close(ctx)
				return nil, fmt.Errorf("mongo: read a document of %s: %w", s.Name, err)
			}
			for _, el := range doc {
				fields.add(el.Key, el.Value, rows)
			}
		}
		err = cur.Err()
		cur.Close(ctx)
		if err != nil {
			return nil, fmt.Errorf("mongo: sample %s.%s: %w", e.t.Database, s.Name, err)
		}
		out = append(out, sanitise.Sample{Table: s.Name, Columns: fields.cols})
	}
	return out, nil
}

// fields collects a collection's leaf paths in the order first seen.
type fields struct {
	cols []sanitise.SampleColumn
	at   map[string]int
}

func newFields() *fields { return &fields{at: map[string]int{}} }

func (f *fields) add(path string, v any, rows int) {
	switch x := v.(type) {
	case bson.D:
		for _, el := range x {
			f.add(path+"."+el.Key, el.Value, rows)
		}
		return
	case bson.A:
		for _, el := range x {
			f.add(path, el, rows)
		}
		return
	}
	i, ok := f.at[path]
	if !ok {
		i = len(f.cols)
		f.at[path] = i
		f.cols = append(f.cols, sanitise.SampleColumn{Name: path})
	}
	_, null := v.(primitive.Null)
	if v == nil || null || len(f.cols[i].Values) >= rows {
		return
	}
	f.cols[i].Values = append(f.cols[i].Values, []byte(text(v)))
}
