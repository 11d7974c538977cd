// Package elastic moves Elasticsearch indices with the official
// go-elasticsearch client, in two ways:
//
//   - as a dump in any store: each index's settings, mappings and aliases and
//     its documents (read with a point in time and search_after) in one
//     streamed NDJSON archive (docs/elasticsearch-archive.md); a pull bulk
//     loads new indices and then moves the aliases in one atomic _aliases
//     call;
//   - through the cluster's own snapshot repository (Snapshotter): snapshot,
//     wait for SUCCESS, keep the newest N; restore the newest SUCCESS
//     snapshot under new names, wait for recovery, check document counts,
//     and move the aliases the same way.
//
// Either way only the indices the dump holds are replaced, and never before
// their new copies are complete; DELETE /_all is never sent.
//
// Credentials are the worker's: $ELASTICSEARCH_USERNAME and
// $ELASTICSEARCH_PASSWORD, or $ELASTICSEARCH_API_KEY.
package elastic

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/sanitise"
)

// ArchiveFormat names the stream layout.
const ArchiveFormat = "envsync-es-archive/1"

// MaxName bounds staging names.
const MaxName = 64

// Options tune the engine.
type Options struct {
	Logger *slog.Logger
	// Count asks Dump to record the documents it dumped per index
	// (engine.Spec.Count).
	Count bool
	// PollEvery is how often snapshot and recovery states are polled.
	PollEvery time.Duration
}

// Engine is a set of indices on one cluster.
type Engine struct {
	es       *elasticsearch.Client
	addr     string // without credentials, for messages
	database string
	indices  string
	opts     Options
}

var _ engine.Engine = (*Engine)(nil)

// New connects to the cluster at target (http://host:port); indices is the
// index pattern a push takes (default: every non-hidden index).
func New(t engine.Target, indices string, o Options) (*Engine, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.PollEvery == 0 {
		o.PollEvery = 2 * time.Second
	}
	if indices == "" {
		indices = "*"
	}
	host, port := t.Host, t.Port
	if host == "" {
		host = "127.0.0.1"
	}
	if port == 0 {
		port = 9200
	}
	scheme := "http"
	if os.Getenv("ELASTICSEARCH_TLS") == "true" {
		scheme = "https"
	}
	addr := scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port))
	es, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses: []string{addr},
		Username:  os.Getenv("ELASTICSEARCH_USERNAME"),
		Password:  os.Getenv("ELASTICSEARCH_PASSWORD"),
		APIKey:    os.Getenv("ELASTICSEARCH_API_KEY"),
	})
	if err != nil {
		return nil, fmt.Errorf("elasticsearch: client for %s: %w", addr, err)
	}
	return &Engine{es: es, addr: addr, database: t.Database, indices: indices, opts: o}, nil
}

// esError is an error answer from the cluster.
type esError struct {
	Status int
	Type   string
	Reason string
}

func (e *esError) Error() string {
	return fmt.Sprintf("status %d: %s: %s", e.Status, e.Type, e.Reason)
}

// do runs req and decodes a JSON answer into out (nil: discard).
func (e *Engine) do(ctx context.Context, what string, req esapi.Request, out any) error {
	res, err := req.Do(ctx, e.es)
	if err != nil {
		return fmt.Errorf("elasticsearch %s at %s: %w", what, e.addr, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if res.IsError() {
		var ans struct {
			Error json.RawMessage `json:"error"`
		}
		_ = json.Unmarshal(body, &ans)
		ee := &esError{Status: res.StatusCode}
		var detail struct{ Type, Reason string }
		if json.Unmarshal(ans.Error, &detail) == nil {
			ee.Type, ee.Reason = detail.Type, detail.Reason
		} else {
			ee.Reason = strings.TrimSpace(string(ans.Error))
		}
		return fmt.Errorf("elasticsearch %s at %s: %w", what, e.addr, ee)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("elasticsearch %s at %s: unreadable answer: %w", what, e.addr, err)
		}
	}
	return nil
}

func notFound(err error) bool {
	var ee *esError
	return errors.As(err, &ee) && ee.Status == http.StatusNotFound
}

func (e *Engine) version(ctx context.Context) string {
	var info struct {
		Version struct {
			Number string `json:"number"`
		} `json:"version"`
	}
	_ = e.do(ctx, "info", esapi.InfoRequest{}, &info)
	return info.Version.Number
}

// indexMeta is what an index is besides its documents.
type indexMeta struct {
	Name     string          `json:"name"`
	Settings json.RawMessage `json:"settings"`
	Mappings json.RawMessage `json:"mappings"`
	Aliases  []string        `json:"aliases,omitempty"`
	// Index is the concrete index holding the data now (an envsync
	// generation after a pull); not part of the archive.
	Index string `json:"-"`
	// live says Index is what the name reaches now (the index itself,
	// or the generation its alias points to), not a staged generation
	// beside it.
	live bool
}

// internalSettings are set by the cluster and refused on index creation.
var internalSettings = []string{"uuid", "creation_date", "provided_name", "version", "routing", "resize", "verified_before_close", "blocks", "history"}

// generation marks indices envsync created: <name>-envsync-<suffix>.
const generation = "-envsync-"

// logical is the name an index is known by: envsync's generations are
// known by their base name (the alias pointing at them).
func logical(name string) string {
	if i := strings.Index(name, generation); i > 0 {
		return name[:i]
	}
	return name
}

// metas reads the indices matching pattern, sorted by name, the live one
// first.
func (e *Engine) metas(ctx context.Context, pattern string) ([]indexMeta, error) {
	var got map[string]struct {
		Aliases  map[string]json.RawMessage `json:"aliases"`
		Mappings json.RawMessage            `json:"mappings"`
		Settings struct {
			Index map[string]json.RawMessage `json:"index"`
		} `json:"settings"`
	}
	if err := e.do(ctx, "get indices "+pattern, esapi.IndicesGetRequest{Index: []string{pattern}}, &got); err != nil {
		return nil, err
	}
	var out []indexMeta
	for name, ix := range got {
		if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "envsync-plan-") {
			continue
		}
		settings := map[string]json.RawMessage{}
		for k, v := range ix.Settings.Index {
			settings[k] = v
		}
		for _, k := range internalSettings {
			delete(settings, k)
		}
		s, _ := json.Marshal(map[string]any{"index": settings})
		m := indexMeta{Name: logical(name), Settings: s, Mappings: ix.Mappings, Index: name}
		m.live = m.Name == name
		for a := range ix.Aliases {
			if a != m.Name {
				m.Aliases = append(m.Aliases, a)
			} else {
				m.live = true
			}
		}
		sort.Strings(m.Aliases)
		out = append(out, m)
	}
	// By name, the live index before any staged generation beside it,
	// whatever order the cluster answered in.
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		if out[i].live != out[j].live {
			return out[i].live
		}
		return out[i].Index < out[j].Index
	})
	return out, nil
}

// concrete maps logical names to the concrete index holding them now.
func (e *Engine) concrete(ctx context.Context, pattern string) (map[string]string, error) {
	var got map[string]json.RawMessage
	if err := e.do(ctx, "get indices "+pattern, esapi.IndicesGetRequest{Index: []string{pattern}}, &got); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for name := range got {
		out[logical(name)] = name
	}
	return out, nil
}

type record struct {
	Type string `json:"type"`
	// header
	Format        string `json:"format,omitempty"`
	Database      string `json:"database,omitempty"`
	ServerVersion string `json:"server_version,omitempty"`
	// index
	Index *indexMeta `json:"index,omitempty"`
	// doc
	ID     string          `json:"id,omitempty"`
	Source json.RawMessage `json:"source,omitempty"`
	// end
	Indices   int64 `json:"indices,omitempty"`
	Documents int64 `json:"documents,omitempty"`
}

// Dump writes the archive: header, then per index its metadata and its
// documents (a point in time keeps the read consistent while paging with
// search_after), then a trailer with counts.
func (e *Engine) Dump(ctx context.Context, w io.Writer) (engine.DumpInfo, error) {
	version := e.version(ctx)
	metas, err := e.metas(ctx, e.indices)
	if err != nil {
		return engine.DumpInfo{}, err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(record{Type: "header", Format: ArchiveFormat, Database: e.database, ServerVersion: version}); err != nil {
		return engine.DumpInfo{}, err
	}
	var docs int64
	dumped := map[string]int64{}
	for i := range metas {
		m := metas[i]
		if err := enc.Encode(record{Type: "index", Index: &m}); err != nil {
			return engine.DumpInfo{}, err
		}
		n, err := e.exportDocs(ctx, m.Index, enc)
		if err != nil {
			return engine.DumpInfo{}, err
		}
		docs += n
		dumped[m.Index] = n
	}
	if err := enc.Encode(record{Type: "end", Indices: int64(len(metas)), Documents: docs}); err != nil {
		return engine.DumpInfo{}, err
	}
	if err := bw.Flush(); err != nil {
		return engine.DumpInfo{}, err
	}
	info := engine.DumpInfo{ServerVersion: version, Format: ArchiveFormat}
	if e.opts.Count {
		info.Counts = &dump.Counts{Of: "index", Exact: true, Tables: dumped,
			Note: "counted as dumped, each index in its own point in time; not one snapshot of the cluster"}
	}
	return info, nil
}

var _ engine.Counter = (*Engine)(nil)

// Count counts the documents of each index the staging copy holds (the
// indices of Restore's plan), by the names they had in the dump.
func (e *Engine) Count(ctx context.Context, staging string) (map[string]int64, error) {
	sfx, err := suffix(staging)
	if err != nil {
		return nil, err
	}
	plan, err := e.readPlan(ctx, sfx)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, p := range plan {
		var c struct {
			Count int64 `json:"count"`
		}
		if err := e.do(ctx, "count "+p.Staged, esapi.CountRequest{Index: []string{p.Staged}}, &c); err != nil {
			return nil, err
		}
		out[p.Name] = c.Count
	}
	return out, nil
}

func (e *Engine) exportDocs(ctx context.Context, index string, enc *json.Encoder) (int64, error) {
	var n int64
	err := e.readDocs(ctx, index, 1000, func(id string, src json.RawMessage) (bool, error) {
		n++
		return true, enc.Encode(record{Type: "doc", ID: id, Source: src})
	})
	return n, err
}

// readDocs reads index's documents in pages of size, in a point in time
// (consistent while paging with search_after), until each says to stop.
func (e *Engine) readDocs(ctx context.Context, index string, size int, each func(id string, src json.RawMessage) (bool, error)) error {
	var pit struct {
		ID string `json:"id"`
	}
	if err := e.do(ctx, "open point in time on "+index, esapi.OpenPointInTimeRequest{Index: []string{index}, KeepAlive: "5m"}, &pit); err != nil {
		return err
	}
	defer func() {
		body, _ := json.Marshal(map[string]string{"id": pit.ID})
		_ = e.do(context.WithoutCancel(ctx), "close point in time", esapi.ClosePointInTimeRequest{Body: bytes.NewReader(body)}, nil)
	}()
	var after []any
	for {
		q := map[string]any{"size": size, "pit": map[string]any{"id": pit.ID, "keep_alive": "5m"},
			"sort": []any{map[string]any{"_shard_doc": "asc"}}, "track_total_hits": false}
		if after != nil {
			q["search_after"] = after
		}
		body, _ := json.Marshal(q)
		var res struct {
			PitID string `json:"pit_id"`
			Hits  struct {
				Hits []struct {
					ID     string          `json:"_id"`
					Source json.RawMessage `json:"_source"`
					Sort   []any           `json:"sort"`
				} `json:"hits"`
			} `json:"hits"`
		}
		if err := e.do(ctx, "read "+index, esapi.SearchRequest{Body: bytes.NewReader(body)}, &res); err != nil {
			return err
		}
		if res.PitID != "" {
			pit.ID = res.PitID
		}
		if len(res.Hits.Hits) == 0 {
			return nil
		}
		for _, h := range res.Hits.Hits {
			more, err := each(h.ID, h.Source)
			if err != nil || !more {
				return err
			}
		}
		after = res.Hits.Hits[len(res.Hits.Hits)-1].Sort
	}
}

// suffix is the generation part of a staging name: the run's hash.
func suffix(staging string) (string, error) {
	i := strings.Index(staging, engine.StagingMarker)
	if i < 0 {
		return "", engine.Permanent(fmt.Errorf("elasticsearch: refusing staging name %q without %q", staging, engine.StagingMarker))
	}
	return strings.ToLower(staging[i+len(engine.StagingMarker):]), nil
}

// planEntry is one index a pull replaces.
type planEntry struct {
	Name    string   `json:"name"`
	Staged  string   `json:"staged"`
	Aliases []string `json:"aliases,omitempty"`
	Count   int64    `json:"count"`
}

func planIndex(sfx string) string { return "envsync-plan-" + sfx }

// Restore creates a new index per index in the archive (its settings and
// mappings), bulk loads the documents, checks the counts, and records the
// plan the swap follows. Live indices are not touched.
// The origin is not needed: index settings and mappings travel in the archive.
func (e *Engine) Restore(ctx context.Context, r io.Reader, staging string, _ dump.Origin) ([]string, error) {
	return nil, e.restore(ctx, r, staging, nil)
}

// RestorePlan is Restore with every document's fields sanitised by plan on
// their way to the cluster, and every mapped field checked against it.
func (e *Engine) RestorePlan(ctx context.Context, r io.Reader, staging string, _ dump.Origin, plan *sanitise.Plan) ([]string, error) {
	return nil, e.restore(ctx, r, staging, plan)
}

// restore is Restore without the unused origin, with a plan or none.
func (e *Engine) restore(ctx context.Context, r io.Reader, staging string, plan *sanitise.Plan) error {
	sfx, err := suffix(staging)
	if err != nil {
		return err
	}
	if err := e.Drop(ctx, staging); err != nil {
		return err
	}
	entries, err := e.load(ctx, r, sfx, plan)
	if err == nil {
		err = e.writePlan(ctx, sfx, entries)
	}
	if err != nil {
		if derr := e.Drop(context.WithoutCancel(ctx), staging); derr != nil {
			e.opts.Logger.Warn("could not drop staged indices after a failed restore", "staging", staging, "error", derr)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("elasticsearch: restore stopped: %w; the live indices are untouched", ctx.Err())
		}
		var pe *sanitise.PlanError
		if errors.As(err, &pe) {
			return engine.Permanent(fmt.Errorf("elasticsearch: %w; nothing was swapped in, the live indices are untouched", err))
		}
		return engine.Permanent(fmt.Errorf("elasticsearch: restore failed: %w; the live indices are untouched", err))
	}
	return nil
}

func (e *Engine) load(ctx context.Context, r io.Reader, sfx string, sp *sanitise.Plan) ([]planEntry, error) {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 1<<20))
	var head record
	if err := dec.Decode(&head); err != nil || head.Type != "header" || head.Format != ArchiveFormat {
		return nil, fmt.Errorf("not an %s stream", ArchiveFormat)
	}
	var (
		plan  []planEntry
		bulk  bytes.Buffer
		n     int
		total int64
		rows  *sanitise.TableRows
	)
	flush := func() error {
		if n == 0 {
			return nil
		}
		cur := plan[len(plan)-1]
		var res struct {
			Errors bool `json:"errors"`
			Items  []map[string]struct {
				Status int `json:"status"`
				Error  struct {
					Type   string `json:"type"`
					Reason string `json:"reason"`
				} `json:"error"`
			} `json:"items"`
		}
		if err := e.do(ctx, "bulk load "+cur.Staged, esapi.BulkRequest{Index: cur.Staged, Body: bytes.NewReader(bulk.Bytes())}, &res); err != nil {
			return err
		}
		if res.Errors {
			for _, it := range res.Items {
				for _, v := range it {
					if v.Status >= 300 {
						return fmt.Errorf("bulk load into %s refused a document: %s", cur.Staged, v.Error.Type)
					}
				}
			}
			return fmt.Errorf("bulk load into %s reported errors", cur.Staged)
		}
		bulk.Reset()
		n = 0
		return nil
	}
	for {
		var rec record
		if err := dec.Decode(&rec); err != nil {
			if err == io.EOF {
				return nil, fmt.Errorf("archive ends without its trailer: %w", io.ErrUnexpectedEOF)
			}
			return nil, fmt.Errorf("archive is damaged: %w", err)
		}
		switch rec.Type {
		case "index":
			if err := flush(); err != nil {
				return nil, err
			}
			if rec.Index == nil || rec.Index.Name == "" {
				return nil, errors.New("archive index record without a name")
			}
			if sp != nil {
				rows = sp.Table(rec.Index.Name, nil)
				expectMapped(rows, rec.Index.Mappings)
				if sp.Failed() {
					return nil, sp.Err() // before any document is loaded
				}
			}
			staged := rec.Index.Name + generation + sfx
			body, _ := json.Marshal(map[string]json.RawMessage{"settings": orEmpty(rec.Index.Settings), "mappings": orEmpty(rec.Index.Mappings)})
			if err := e.do(ctx, "create index "+staged, esapi.IndicesCreateRequest{Index: staged, Body: bytes.NewReader(body)}, nil); err != nil {
				return nil, err
			}
			plan = append(plan, planEntry{Name: rec.Index.Name, Staged: staged, Aliases: rec.Index.Aliases})
		case "doc":
			if len(plan) == 0 {
				return nil, errors.New("archive has a document before any index")
			}
			total++
			source := rec.Source
			if rows != nil {
				var keep bool
				var err error
				if source, keep, err = sanitiseSource(rows, rec.Source); err != nil {
					return nil, err
				} else if !keep {
					continue
				}
			}
			action, _ := json.Marshal(map[string]any{"index": map[string]string{"_id": rec.ID}})
			bulk.Write(action)
			bulk.WriteByte('\n')
			bulk.Write(source)
			bulk.WriteByte('\n')
			plan[len(plan)-1].Count++
			if n++; n == 1000 {
				if err := flush(); err != nil {
					return nil, err
				}
			}
		case "end":
			if err := flush(); err != nil {
				return nil, err
			}
			if rec.Indices != int64(len(plan)) || rec.Documents != total {
				return nil, fmt.Errorf("archive says %d indices and %d documents but holds %d and %d", rec.Indices, rec.Documents, len(plan), total)
			}
			if sp != nil {
				if err := sp.Finish(); err != nil {
					return nil, err
				}
			}
			return plan, e.checkCounts(ctx, plan)
		default:
			return nil, fmt.Errorf("archive record of unknown type %q", rec.Type)
		}
	}
}

func orEmpty(b json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(b)) == 0 {
		return json.RawMessage("{}")
	}
	return b
}

// checkCounts refreshes the staged indices and compares their document
// counts with what they must hold.
func (e *Engine) checkCounts(ctx context.Context, plan []planEntry) error {
	for _, p := range plan {
		if err := e.do(ctx, "refresh "+p.Staged, esapi.IndicesRefreshRequest{Index: []string{p.Staged}}, nil); err != nil {
			return err
		}
		var c struct {
			Count int64 `json:"count"`
		}
		if err := e.do(ctx, "count "+p.Staged, esapi.CountRequest{Index: []string{p.Staged}}, &c); err != nil {
			return err
		}
		if c.Count != p.Count {
			return fmt.Errorf("%s holds %d documents, expected %d", p.Staged, c.Count, p.Count)
		}
	}
	return nil
}

func (e *Engine) writePlan(ctx context.Context, sfx string, plan []planEntry) error {
	body, _ := json.Marshal(map[string]any{"mappings": map[string]any{"dynamic": false, "properties": map[string]any{}}})
	if err := e.do(ctx, "create plan index", esapi.IndicesCreateRequest{Index: planIndex(sfx), Body: bytes.NewReader(body)}, nil); err != nil {
		return err
	}
	doc, _ := json.Marshal(map[string]any{"entries": plan})
	line, _ := json.Marshal(map[string]any{"index": map[string]string{"_id": "plan"}})
	b := append(append(append(line, '\n'), doc...), '\n')
	return e.do(ctx, "write plan", esapi.BulkRequest{Index: planIndex(sfx), Body: bytes.NewReader(b), Refresh: "true"}, nil)
}

func (e *Engine) readPlan(ctx context.Context, sfx string) ([]planEntry, error) {
	var pit struct {
		ID string `json:"id"`
	}
	if err := e.do(ctx, "open plan", esapi.OpenPointInTimeRequest{Index: []string{planIndex(sfx)}, KeepAlive: "1m"}, &pit); err != nil {
		return nil, err
	}
	defer func() {
		b, _ := json.Marshal(map[string]string{"id": pit.ID})
		_ = e.do(context.WithoutCancel(ctx), "close point in time", esapi.ClosePointInTimeRequest{Body: bytes.NewReader(b)}, nil)
	}()
	body, _ := json.Marshal(map[string]any{"size": 10, "pit": map[string]any{"id": pit.ID}, "sort": []any{map[string]any{"_shard_doc": "asc"}}})
	var res struct {
		Hits struct {
			Hits []struct {
				Source struct {
					Entries []planEntry `json:"entries"`
				} `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := e.do(ctx, "read plan", esapi.SearchRequest{Body: bytes.NewReader(body)}, &res); err != nil {
		return nil, err
	}
	if len(res.Hits.Hits) != 1 {
		return nil, errors.New("plan index holds no plan")
	}
	return res.Hits.Hits[0].Source.Entries, nil
}

// Swap moves every replaced index's name (an alias from now on) and its
// aliases to the new index and removes the previous generation, in one
// _aliases call, which Elasticsearch applies atomically.
func (e *Engine) Swap(ctx context.Context, staging, label string) error {
	sfx, err := suffix(staging)
	if err != nil {
		return err
	}
	plan, err := e.readPlan(ctx, sfx)
	if notFound(err) {
		// Finished earlier if the names already point at this generation.
		var got map[string]json.RawMessage
		if aerr := e.do(ctx, "get aliases", esapi.IndicesGetAliasRequest{Index: []string{"*" + generation + sfx}}, &got); aerr == nil && len(got) > 0 {
			return nil
		}
		return engine.Permanent(fmt.Errorf("elasticsearch: the plan of %s is gone and its indices are not live; start the pull again", staging))
	}
	if err != nil {
		return err
	}
	var actions []any
	for _, p := range plan {
		current, err := e.concrete(ctx, p.Name)
		if err != nil && !notFound(err) {
			return err
		}
		for name, idx := range current {
			if name == p.Name && idx != p.Staged {
				actions = append(actions, map[string]any{"remove_index": map[string]string{"index": idx}})
			}
		}
		actions = append(actions, map[string]any{"add": map[string]string{"index": p.Staged, "alias": p.Name}})
		for _, a := range p.Aliases {
			actions = append(actions, map[string]any{"add": map[string]string{"index": p.Staged, "alias": a}})
		}
	}
	body, _ := json.Marshal(map[string]any{"actions": actions})
	if err := e.do(ctx, "swap aliases", esapi.IndicesUpdateAliasesRequest{Body: bytes.NewReader(body)}, nil); err != nil {
		return fmt.Errorf("%w; the live indices are unchanged", err)
	}
	if err := e.do(ctx, "delete plan", esapi.IndicesDeleteRequest{Index: []string{planIndex(sfx)}}, nil); err != nil && !notFound(err) {
		e.opts.Logger.Warn("could not delete the plan index", "index", planIndex(sfx), "error", err)
	}
	return nil
}

// Drop deletes this run's staged indices and plan, by exact name; never a
// wildcard delete.
func (e *Engine) Drop(ctx context.Context, staging string) error {
	sfx, err := suffix(staging)
	if err != nil {
		return err
	}
	var got map[string]struct {
		Aliases map[string]json.RawMessage `json:"aliases"`
	}
	yes := true
	err = e.do(ctx, "find staged indices", esapi.IndicesGetRequest{Index: []string{"*" + generation + sfx, planIndex(sfx)},
		IgnoreUnavailable: &yes, AllowNoIndices: &yes}, &got)
	if notFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for name, ix := range got {
		if len(ix.Aliases) > 0 {
			continue // live: the swap happened
		}
		if err := e.do(ctx, "delete "+name, esapi.IndicesDeleteRequest{Index: []string{name}}, nil); err != nil && !notFound(err) {
			return err
		}
	}
	return nil
}
