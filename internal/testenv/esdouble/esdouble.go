// Package esdouble is an in-memory HTTP stand-in for Elasticsearch 8, for
// tests: no Elasticsearch server can be installed on the test machines. It
// answers the documented REST endpoints envsync uses (index get/create/
// delete/close, point in time with search_after, bulk, count, aliases,
// snapshot repositories, snapshots, restore with rename, recovery) closely
// enough that the official go-elasticsearch client drives it unchanged. It
// is a double, not Elasticsearch: no queries beyond match_all, one shard.
package esdouble

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

type index struct {
	Settings json.RawMessage
	Mappings json.RawMessage
	docs     map[string]json.RawMessage
	ids      []string
	closed   bool
}

func (ix *index) clone() *index {
	c := &index{Settings: ix.Settings, Mappings: ix.Mappings, docs: map[string]json.RawMessage{}, ids: append([]string(nil), ix.ids...)}
	for k, v := range ix.docs {
		c.docs[k] = v
	}
	return c
}

type snapshot struct {
	name     string
	state    string
	indices  map[string]*index
	aliases  map[string][]string // index -> aliases at snapshot time
	metadata json.RawMessage
	polls    int
}

// Double is a running stand-in.
type Double struct {
	URL string

	mu        sync.Mutex
	indices   map[string]*index
	aliases   map[string]map[string]bool // alias -> indices
	repos     map[string]json.RawMessage
	snapshots map[string]map[string]*snapshot
	pits      map[string]string // pit id -> index
	// SnapshotOutcome is the final state new snapshots reach: SUCCESS
	// (default), PARTIAL or FAILED.
	SnapshotOutcome string
	requests        []string
}

// Start serves a double until the test ends.
func Start(t *testing.T) *Double {
	t.Helper()
	d := &Double{indices: map[string]*index{}, aliases: map[string]map[string]bool{}, repos: map[string]json.RawMessage{},
		snapshots: map[string]map[string]*snapshot{}, pits: map[string]string{}, SnapshotOutcome: "SUCCESS"}
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	d.URL = srv.URL
	return d
}

// Requests returns "METHOD /path" of every request so far.
func (d *Double) Requests() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.requests...)
}

// SetOutcome sets the state snapshots created from now on end in.
func (d *Double) SetOutcome(state string) {
	d.mu.Lock()
	d.SnapshotOutcome = state
	d.mu.Unlock()
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, typ, reason string) {
	reply(w, status, map[string]any{"error": map[string]any{"type": typ, "reason": reason}, "status": status})
}

func (d *Double) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The client refuses servers that do not say they are Elasticsearch.
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	body, _ := io.ReadAll(r.Body)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.requests = append(d.requests, r.Method+" "+r.URL.Path)
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if parts[0] == "" {
		parts = nil
	}
	switch {
	case len(parts) == 0:
		reply(w, 200, map[string]any{"name": "esdouble", "cluster_name": "test", "version": map[string]any{"number": "8.15.0", "build_flavor": "default"}, "tagline": "You Know, for Search"})
	case parts[0] == "_pit" && r.Method == http.MethodDelete:
		var req struct{ ID string }
		_ = json.Unmarshal(body, &req)
		delete(d.pits, req.ID)
		reply(w, 200, map[string]any{"succeeded": true, "num_freed": 1})
	case parts[0] == "_search":
		d.search(w, body)
	case parts[0] == "_bulk":
		d.bulk(w, "", body)
	case parts[0] == "_aliases":
		d.updateAliases(w, body)
	case parts[0] == "_alias" && len(parts) == 2:
		d.getAlias(w, parts[1])
	case parts[0] == "_snapshot":
		d.snapshot(w, r, parts[1:], body)
	case strings.HasPrefix(parts[0], "_"):
		fail(w, 400, "illegal_argument_exception", "esdouble does not implement "+r.URL.Path)
	case len(parts) == 1:
		d.indexOp(w, r, parts[0], body)
	default:
		d.indexAction(w, r, parts[0], parts[1], body)
	}
}

// resolve expands a comma list of names, wildcards and aliases into
// concrete open indices, sorted.
func (d *Double) resolve(expr string) []string {
	set := map[string]bool{}
	for _, p := range strings.Split(expr, ",") {
		switch {
		case p == "_all" || p == "*":
			for n := range d.indices {
				if !strings.HasPrefix(n, ".") {
					set[n] = true
				}
			}
		case strings.Contains(p, "*"):
			re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(p), `\*`, ".*") + "$")
			for n := range d.indices {
				if re.MatchString(n) && !strings.HasPrefix(n, ".") {
					set[n] = true
				}
			}
		case d.aliases[p] != nil:
			for n := range d.aliases[p] {
				set[n] = true
			}
		case d.indices[p] != nil:
			set[p] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (d *Double) aliasesOf(ix string) map[string]any {
	out := map[string]any{}
	for a, set := range d.aliases {
		if set[ix] {
			out[a] = map[string]any{}
		}
	}
	return out
}

func (d *Double) indexOp(w http.ResponseWriter, r *http.Request, name string, body []byte) {
	switch r.Method {
	case http.MethodHead:
		if len(d.resolve(name)) == 0 {
			w.WriteHeader(404)
			return
		}
		w.WriteHeader(200)
	case http.MethodGet:
		names := d.resolve(name)
		if len(names) == 0 && !strings.Contains(name, "*") {
			fail(w, 404, "index_not_found_exception", "no such index ["+name+"]")
			return
		}
		out := map[string]any{}
		for _, n := range names {
			ix := d.indices[n]
			out[n] = map[string]any{"aliases": d.aliasesOf(n), "mappings": json.RawMessage(orEmpty(ix.Mappings)),
				"settings": map[string]any{"index": map[string]any{"number_of_shards": "1", "number_of_replicas": "0", "uuid": "u-" + n,
					"creation_date": "1", "provided_name": n, "version": map[string]any{"created": "8150099"}, "analysis": analysis(ix.Settings)}}}
		}
		reply(w, 200, out)
	case http.MethodPut:
		if d.indices[name] != nil || d.aliases[name] != nil {
			fail(w, 400, "resource_already_exists_exception", "index ["+name+"] already exists")
			return
		}
		var req struct {
			Settings json.RawMessage `json:"settings"`
			Mappings json.RawMessage `json:"mappings"`
		}
		if err := json.Unmarshal(orEmpty(body), &req); err != nil {
			fail(w, 400, "parse_exception", err.Error())
			return
		}
		d.indices[name] = &index{Settings: req.Settings, Mappings: req.Mappings, docs: map[string]json.RawMessage{}}
		reply(w, 200, map[string]any{"acknowledged": true, "index": name})
	case http.MethodDelete:
		if name == "_all" || strings.Contains(name, "*") {
			fail(w, 400, "illegal_argument_exception", "esdouble refuses wildcard deletes")
			return
		}
		for _, n := range strings.Split(name, ",") {
			if d.indices[n] == nil {
				fail(w, 404, "index_not_found_exception", "no such index ["+n+"]")
				return
			}
			d.dropIndex(n)
		}
		reply(w, 200, map[string]any{"acknowledged": true})
	default:
		fail(w, 405, "method_not_allowed", r.Method)
	}
}

func (d *Double) dropIndex(n string) {
	delete(d.indices, n)
	for a, set := range d.aliases {
		delete(set, n)
		if len(set) == 0 {
			delete(d.aliases, a)
		}
	}
}

// analysis keeps the index.analysis settings a client gave, so they read
// back.
func analysis(settings json.RawMessage) any {
	var s map[string]any
	_ = json.Unmarshal(orEmpty(settings), &s)
	if ix, ok := s["index"].(map[string]any); ok {
		if a, ok := ix["analysis"]; ok {
			return a
		}
	}
	if a, ok := s["analysis"]; ok {
		return a
	}
	return map[string]any{}
}

func orEmpty(b []byte) []byte {
	if len(bytes.TrimSpace(b)) == 0 {
		return []byte("{}")
	}
	return b
}

func (d *Double) indexAction(w http.ResponseWriter, r *http.Request, name, action string, body []byte) {
	switch action {
	case "_pit":
		names := d.resolve(name)
		if len(names) != 1 {
			fail(w, 404, "index_not_found_exception", "no such index ["+name+"]")
			return
		}
		id := "pit-" + strconv.Itoa(len(d.pits)+1) + "-" + names[0]
		d.pits[id] = names[0]
		reply(w, 200, map[string]any{"id": id})
	case "_bulk":
		d.bulk(w, name, body)
	case "_count":
		n := 0
		for _, ix := range d.resolve(name) {
			n += len(d.indices[ix].docs)
		}
		reply(w, 200, map[string]any{"count": n})
	case "_refresh":
		reply(w, 200, map[string]any{"_shards": map[string]any{"total": 1, "successful": 1, "failed": 0}})
	case "_close":
		for _, ix := range d.resolve(name) {
			d.indices[ix].closed = true
		}
		reply(w, 200, map[string]any{"acknowledged": true})
	case "_recovery":
		out := map[string]any{}
		for _, ix := range d.resolve(name) {
			out[ix] = map[string]any{"shards": []any{map[string]any{"id": 0, "stage": "DONE", "type": "SNAPSHOT"}}}
		}
		reply(w, 200, out)
	default:
		fail(w, 400, "illegal_argument_exception", "esdouble does not implement "+r.URL.Path)
	}
}

func (d *Double) search(w http.ResponseWriter, body []byte) {
	var req struct {
		Size int `json:"size"`
		Pit  struct {
			ID string `json:"id"`
		} `json:"pit"`
		Sort        []map[string]any `json:"sort"`
		SearchAfter []int            `json:"search_after"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		fail(w, 400, "parse_exception", err.Error())
		return
	}
	ixName, ok := d.pits[req.Pit.ID]
	if !ok {
		fail(w, 404, "search_context_missing_exception", "no search context for point in time ["+req.Pit.ID+"]")
		return
	}
	if len(req.Sort) != 1 || req.Sort[0]["_shard_doc"] == nil {
		fail(w, 400, "illegal_argument_exception", "esdouble pages a point in time only by _shard_doc")
		return
	}
	ix := d.indices[ixName]
	start := 0
	if len(req.SearchAfter) == 1 {
		start = req.SearchAfter[0] + 1
	}
	if req.Size == 0 {
		req.Size = 10
	}
	hits := []any{}
	for i := start; i < len(ix.ids) && len(hits) < req.Size; i++ {
		id := ix.ids[i]
		hits = append(hits, map[string]any{"_index": ixName, "_id": id, "_source": ix.docs[id], "sort": []int{i}})
	}
	reply(w, 200, map[string]any{"pit_id": req.Pit.ID, "took": 1, "timed_out": false, "hits": map[string]any{"hits": hits}})
}

func (d *Double) bulk(w http.ResponseWriter, defaultIndex string, body []byte) {
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var items []any
	errorsSeen := false
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var action map[string]struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		}
		if err := json.Unmarshal(line, &action); err != nil || len(action) != 1 {
			fail(w, 400, "illegal_argument_exception", "malformed bulk action line")
			return
		}
		for op, meta := range action {
			if op != "index" && op != "create" {
				fail(w, 400, "illegal_argument_exception", "esdouble bulk supports index and create")
				return
			}
			if !sc.Scan() {
				fail(w, 400, "illegal_argument_exception", "bulk action without a source line")
				return
			}
			src := append(json.RawMessage(nil), sc.Bytes()...)
			name := meta.Index
			if name == "" {
				name = defaultIndex
			}
			ix := d.indices[name]
			if ix == nil {
				errorsSeen = true
				items = append(items, map[string]any{op: map[string]any{"_index": name, "status": 404, "error": map[string]any{"type": "index_not_found_exception"}}})
				continue
			}
			if !json.Valid(src) {
				errorsSeen = true
				items = append(items, map[string]any{op: map[string]any{"_index": name, "status": 400, "error": map[string]any{"type": "mapper_parsing_exception"}}})
				continue
			}
			if _, exists := ix.docs[meta.ID]; !exists {
				ix.ids = append(ix.ids, meta.ID)
			}
			ix.docs[meta.ID] = src
			items = append(items, map[string]any{op: map[string]any{"_index": name, "_id": meta.ID, "status": 201, "result": "created"}})
		}
	}
	reply(w, 200, map[string]any{"took": 1, "errors": errorsSeen, "items": items})
}

func (d *Double) getAlias(w http.ResponseWriter, alias string) {
	set := d.aliases[alias]
	if set == nil {
		reply(w, 404, map[string]any{"error": "alias [" + alias + "] missing", "status": 404})
		return
	}
	out := map[string]any{}
	for ix := range set {
		out[ix] = map[string]any{"aliases": map[string]any{alias: map[string]any{}}}
	}
	reply(w, 200, out)
}

// updateAliases applies all actions or none, as Elasticsearch does.
func (d *Double) updateAliases(w http.ResponseWriter, body []byte) {
	var req struct {
		Actions []map[string]struct {
			Index string `json:"index"`
			Alias string `json:"alias"`
		} `json:"actions"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		fail(w, 400, "parse_exception", err.Error())
		return
	}
	// Check first, then apply.
	for _, a := range req.Actions {
		for op, p := range a {
			if d.indices[p.Index] == nil {
				fail(w, 404, "index_not_found_exception", "no such index ["+p.Index+"]")
				return
			}
			if op == "add" && d.indices[p.Alias] != nil && !removesIndex(req.Actions, p.Alias) {
				fail(w, 400, "invalid_alias_name_exception", "an index exists with the same name as the alias ["+p.Alias+"]")
				return
			}
		}
	}
	for _, a := range req.Actions {
		for op, p := range a {
			switch op {
			case "remove_index":
				d.dropIndex(p.Index)
			case "add":
				if d.aliases[p.Alias] == nil {
					d.aliases[p.Alias] = map[string]bool{}
				}
				d.aliases[p.Alias][p.Index] = true
			case "remove":
				delete(d.aliases[p.Alias], p.Index)
				if len(d.aliases[p.Alias]) == 0 {
					delete(d.aliases, p.Alias)
				}
			}
		}
	}
	reply(w, 200, map[string]any{"acknowledged": true})
}

func removesIndex(actions []map[string]struct {
	Index string `json:"index"`
	Alias string `json:"alias"`
}, name string) bool {
	for _, a := range actions {
		if p, ok := a["remove_index"]; ok && p.Index == name {
			return true
		}
	}
	return false
}

func (d *Double) snapshot(w http.ResponseWriter, r *http.Request, parts []string, body []byte) {
	if len(parts) == 0 {
		fail(w, 400, "illegal_argument_exception", "repository name missing")
		return
	}
	repo := parts[0]
	switch {
	case len(parts) == 1 && r.Method == http.MethodPut:
		d.repos[repo] = append(json.RawMessage(nil), body...)
		if d.snapshots[repo] == nil {
			d.snapshots[repo] = map[string]*snapshot{}
		}
		reply(w, 200, map[string]any{"acknowledged": true})
	case len(parts) == 1 && r.Method == http.MethodGet:
		if d.repos[repo] == nil {
			fail(w, 404, "repository_missing_exception", "["+repo+"] missing")
			return
		}
		reply(w, 200, map[string]any{repo: json.RawMessage(d.repos[repo])})
	case d.repos[repo] == nil:
		fail(w, 404, "repository_missing_exception", "["+repo+"] missing")
	case len(parts) == 2 && parts[1] == "_verify":
		reply(w, 200, map[string]any{"nodes": map[string]any{"n1": map[string]any{"name": "esdouble"}}})
	case len(parts) == 2 && r.Method == http.MethodPut:
		d.createSnapshot(w, repo, parts[1], body)
	case len(parts) == 2 && r.Method == http.MethodGet:
		d.getSnapshots(w, repo, parts[1])
	case len(parts) == 2 && r.Method == http.MethodDelete:
		for _, n := range strings.Split(parts[1], ",") {
			delete(d.snapshots[repo], n)
		}
		reply(w, 200, map[string]any{"acknowledged": true})
	case len(parts) == 3 && parts[2] == "_restore":
		d.restore(w, repo, parts[1], body)
	default:
		fail(w, 400, "illegal_argument_exception", "esdouble does not implement "+r.URL.Path)
	}
}

func (d *Double) createSnapshot(w http.ResponseWriter, repo, name string, body []byte) {
	if d.snapshots[repo][name] != nil {
		fail(w, 400, "invalid_snapshot_name_exception", "snapshot with the same name already exists")
		return
	}
	var req struct {
		Indices  string          `json:"indices"`
		Metadata json.RawMessage `json:"metadata"`
	}
	_ = json.Unmarshal(orEmpty(body), &req)
	expr := req.Indices
	if expr == "" {
		expr = "*"
	}
	s := &snapshot{name: name, state: "IN_PROGRESS", indices: map[string]*index{}, aliases: map[string][]string{}, metadata: req.Metadata}
	for _, ix := range d.resolve(expr) {
		s.indices[ix] = d.indices[ix].clone()
		for a := range d.aliasesOf(ix) {
			s.aliases[ix] = append(s.aliases[ix], a)
		}
	}
	d.snapshots[repo][name] = s
	reply(w, 200, map[string]any{"accepted": true})
}

// getSnapshots reports IN_PROGRESS for a snapshot's first poll, then its
// final state, so callers must wait for completion.
func (d *Double) getSnapshots(w http.ResponseWriter, repo, names string) {
	var list []*snapshot
	if names == "_all" || names == "*" {
		for _, s := range d.snapshots[repo] {
			list = append(list, s)
		}
	} else {
		for _, n := range strings.Split(names, ",") {
			s := d.snapshots[repo][n]
			if s == nil {
				fail(w, 404, "snapshot_missing_exception", "["+repo+":"+n+"] is missing")
				return
			}
			list = append(list, s)
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].name < list[j].name })
	var out []any
	for _, s := range list {
		if s.state == "IN_PROGRESS" {
			s.polls++
			if s.polls > 1 {
				s.state = d.SnapshotOutcome
			}
		}
		var indices []string
		for ix := range s.indices {
			indices = append(indices, ix)
		}
		sort.Strings(indices)
		out = append(out, map[string]any{"snapshot": s.name, "uuid": "u-" + s.name, "state": s.state, "indices": indices,
			"metadata": json.RawMessage(orEmpty(s.metadata)), "shards": map[string]any{"total": len(indices), "successful": len(indices), "failed": 0}})
	}
	if out == nil {
		out = []any{}
	}
	reply(w, 200, map[string]any{"snapshots": out, "total": len(out), "remaining": 0})
}

// restore copies a snapshot's indices back, renamed when asked; a target
// name that exists open is refused, as Elasticsearch refuses it.
func (d *Double) restore(w http.ResponseWriter, repo, name string, body []byte) {
	s := d.snapshots[repo][name]
	if s == nil {
		fail(w, 404, "snapshot_missing_exception", "["+repo+":"+name+"] is missing")
		return
	}
	if s.state != "SUCCESS" && s.state != "PARTIAL" {
		fail(w, 400, "snapshot_restore_exception", "snapshot ["+name+"] is "+s.state)
		return
	}
	var req struct {
		Indices            string `json:"indices"`
		RenamePattern      string `json:"rename_pattern"`
		RenameReplacement  string `json:"rename_replacement"`
		IncludeAliases     *bool  `json:"include_aliases"`
		IncludeGlobalState bool   `json:"include_global_state"`
	}
	_ = json.Unmarshal(orEmpty(body), &req)
	var re *regexp.Regexp
	if req.RenamePattern != "" {
		var err error
		if re, err = regexp.Compile(req.RenamePattern); err != nil {
			fail(w, 400, "illegal_argument_exception", err.Error())
			return
		}
	}
	repl := regexp.MustCompile(`\$(\d+)`).ReplaceAllString(req.RenameReplacement, "$${$1}")
	names := make([]string, 0, len(s.indices))
	for ix := range s.indices {
		if req.Indices == "" || req.Indices == "*" || matchesAny(ix, req.Indices) {
			names = append(names, ix)
		}
	}
	sort.Strings(names)
	targets := map[string]string{}
	for _, ix := range names {
		target := ix
		if re != nil {
			target = re.ReplaceAllString(ix, repl)
		}
		if ex := d.indices[target]; ex != nil && !ex.closed {
			fail(w, 500, "snapshot_restore_exception", "cannot restore index ["+target+"] because an open index with same name already exists in the cluster")
			return
		}
		targets[ix] = target
	}
	for _, ix := range names {
		d.indices[targets[ix]] = s.indices[ix].clone()
	}
	reply(w, 200, map[string]any{"accepted": true})
}

func matchesAny(name, expr string) bool {
	for _, p := range strings.Split(expr, ",") {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// Index returns a copy of an index's documents by ID, for assertions.
func (d *Double) Index(name string) (map[string]string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ix := d.indices[name]
	if ix == nil {
		return nil, false
	}
	out := map[string]string{}
	for id, src := range ix.docs {
		out[id] = string(src)
	}
	return out, true
}

// Aliases returns alias -> sorted indices.
func (d *Double) Aliases() map[string][]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string][]string{}
	for a, set := range d.aliases {
		for ix := range set {
			out[a] = append(out[a], ix)
		}
		sort.Strings(out[a])
	}
	return out
}

// Indices returns the names of all indices.
func (d *Double) Indices() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for n := range d.indices {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Snapshots returns the names of a repository's snapshots.
func (d *Double) Snapshots(repo string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for n := range d.snapshots[repo] {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Call sends one request to the double as a test's setup would, failing
// the test on an error answer.
func (d *Double) Call(t *testing.T, method, path, body string) {
	t.Helper()
	req, _ := http.NewRequest(method, d.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	res.Body.Close()
	if res.StatusCode >= 300 {
		t.Fatalf("%s %s: %s", method, path, res.Status)
	}
}
