// Package dump names dumps in a store, describes them with manifests and
// picks the one a pull restores. It wraps streams but opens nothing itself:
// stores and activities do the I/O.
//
// A dump is two objects under the task's prefix:
//
//	<prefix>/2026-11-26T233000Z-orders.zst                data, zstd
//	<prefix>/2026-11-26T233000Z-orders.zst.manifest.json  written after the data
//
// The suffix is the compression: .zst (zstd, the default), .gz (gzip, and
// every dump written before zstd) or .raw (none).
//
// Timestamps are UTC with a fixed width, so keys sort chronologically, and
// the database name is matched exactly, so "orders" never picks up
// "orders-archive" (the original matched substrings).
package dump

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/envsync/envsync/engine/sanitise"
)

const (
	// KeyTimeLayout is the timestamp in keys: UTC, sortable, no colons
	// (colons upset some tools and file systems).
	KeyTimeLayout = "2006-01-02T150405Z"
	// ManifestSuffix follows the data key of a manifest.
	ManifestSuffix = ".manifest.json"
	// ManifestFormat versions the manifest layout.
	ManifestFormat = "envsync-manifest/1"
)

// Key is the data key of a dump of database taken at t, stored with
// compression c.
func Key(prefix, database string, t time.Time, c string) string {
	suffix, ok := suffixes[c]
	if !ok {
		suffix = suffixes[Gzip]
	}
	name := t.UTC().Format(KeyTimeLayout) + "-" + database + suffix
	if prefix == "" {
		return name
	}
	return path.Join(prefix, name)
}

// ManifestKey is the key of the manifest describing the data key.
func ManifestKey(dataKey string) string { return dataKey + ManifestSuffix }

// DrillSuffix follows the data key of a restore drill's evidence, written
// only when the drill passed.
const DrillSuffix = ".drill.json"

// DrillKey is the key of the evidence that the data key's dump restored.
func DrillKey(dataKey string) string { return dataKey + DrillSuffix }

// Parse reads a data key back into its database and time. ok is false for
// anything that is not a dump data key (manifests, foreign objects).
func Parse(prefix, key string) (database string, t time.Time, ok bool) {
	name := key
	if prefix != "" {
		if !strings.HasPrefix(key, prefix+"/") {
			return "", time.Time{}, false
		}
		name = key[len(prefix)+1:]
	}
	if strings.Contains(name, "/") {
		return "", time.Time{}, false
	}
	suffix := ""
	for _, sfx := range suffixes {
		if strings.HasSuffix(name, sfx) {
			suffix = sfx
		}
	}
	if suffix == "" {
		return "", time.Time{}, false
	}
	width := len(KeyTimeLayout)
	if len(name) < width+2 || name[width] != '-' {
		return "", time.Time{}, false
	}
	t, err := time.Parse(KeyTimeLayout, name[:width])
	if err != nil {
		return "", time.Time{}, false
	}
	return strings.TrimSuffix(name[width+1:], suffix), t, true
}

// Manifest describes one dump. It is written after the data, so a dump
// without a manifest is incomplete and never restored.
type Manifest struct {
	Format         string    `json:"format"`
	Key            string    `json:"key"`
	DBMS           string    `json:"dbms"`
	Database       string    `json:"database"`
	SourceHost     string    `json:"source_host"`
	CreatedAt      time.Time `json:"created_at"`
	Size           int64     `json:"size"`
	SHA256         string    `json:"sha256"`
	Compression    string    `json:"compression"`
	DumpFormat     string    `json:"dump_format"`
	ServerVersion  string    `json:"server_version"`
	EnvsyncVersion string    `json:"envsync_version"`
	// Sanitised is set when the dump was sanitised before upload.
	Sanitised *Sanitised `json:"sanitised,omitempty"`
	// Origin is the source database's own settings.
	Origin Origin `json:"origin,omitzero"`
	// Encrypted is set for a dump encrypted with age before it left its
	// host: Size and SHA256 are of the encrypted object.
	Encrypted *Encrypted `json:"encrypted,omitempty"`
	// Counts are the rows per table the dump holds, when its push counted
	// them (verify: counts).
	Counts *Counts `json:"counts,omitempty"`
	// Run is the push that wrote the dump: a retried step finds the dump
	// an earlier attempt of its run completed, instead of dumping again.
	Run *Run `json:"run,omitempty"`
}

// Run names a workflow run (names, not data).
type Run struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
}

// Encrypted says to whom a dump is encrypted, by fingerprints of the
// recipients' public keys: enough to tell a pulling worker whether its
// identity opens it, and no key.
type Encrypted struct {
	Recipients []string `json:"recipients"`
}

// Fingerprint names an age recipient (public key) in manifests and
// messages: the first 12 hex digits of the sha256 of its text.
func Fingerprint(recipient string) string {
	sum := sha256.Sum256([]byte(recipient))
	return hex.EncodeToString(sum[:6])
}

// Origin records settings of the source database that live outside its
// dump: a pull into a server that lacks the database creates it with them
// (when the server can), instead of with the connecting user's defaults.
type Origin struct {
	// Owner is the PostgreSQL database's owner role.
	Owner string `json:"owner,omitempty"`
	// Charset and Collation are the MySQL schema's defaults.
	Charset   string `json:"charset,omitempty"`
	Collation string `json:"collation,omitempty"`
}

// Sanitised records which rule set a dump was sanitised with as it was
// taken, that every value kept as it is was scanned for personal data
// (Verified), and what happened to each table.
type Sanitised struct {
	RulesSHA256 string                           `json:"rules_sha256"`
	Verified    bool                             `json:"verified"`
	Tables      map[string]*sanitise.TableReport `json:"tables,omitempty"`
}

// Marshal encodes a manifest for the store.
func (m Manifest) Marshal() ([]byte, error) { return json.MarshalIndent(m, "", "  ") }

// UnmarshalManifest decodes and checks a manifest read from key.
func UnmarshalManifest(key string, data []byte) (Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("manifest %s is not valid JSON: %w", key, err)
	}
	switch {
	case m.Format != ManifestFormat:
		return m, fmt.Errorf("manifest %s has format %q; this envsync reads %q", key, m.Format, ManifestFormat)
	case ManifestKey(m.Key) != key:
		return m, fmt.Errorf("manifest %s describes %s, not its own dump", key, m.Key)
	case m.Size <= 0 || len(m.SHA256) != 64:
		return m, fmt.Errorf("manifest %s has no size or sha256", key)
	case !slices.Contains(Compressions, m.Compression):
		return m, fmt.Errorf("manifest %s has compression %q; this envsync reads %s", key, m.Compression, strings.Join(Compressions, ", "))
	}
	return m, nil
}

// Candidate is a complete dump (data and manifest) found in a store.
type Candidate struct {
	Key  string
	Time time.Time
}

// Candidates turns a store listing into the complete dumps of database,
// oldest first. Keys of other databases, manifests on their own and data
// without a manifest are left out.
func Candidates(prefix, database string, keys []string) []Candidate {
	manifests := map[string]bool{}
	for _, k := range keys {
		if strings.HasSuffix(k, ManifestSuffix) {
			manifests[strings.TrimSuffix(k, ManifestSuffix)] = true
		}
	}
	var out []Candidate
	for _, k := range keys {
		db, t, ok := Parse(prefix, k)
		if !ok || db != database || !manifests[k] {
			continue
		}
		out = append(out, Candidate{Key: k, Time: t})
	}
	slices.SortFunc(out, func(a, b Candidate) int { return a.Time.Compare(b.Time) })
	return out
}

// ErrNoDump means no complete dump matched.
var ErrNoDump = errors.New("no complete dump found")

// Choose picks the dump a pull restores: the newest one, or, when minute is
// set, the newest one taken within that UTC minute (the original's -t).
func Choose(cands []Candidate, minute time.Time) (Candidate, error) {
	if len(cands) == 0 {
		return Candidate{}, ErrNoDump
	}
	if minute.IsZero() {
		return cands[len(cands)-1], nil
	}
	start := minute.UTC().Truncate(time.Minute)
	for i := len(cands) - 1; i >= 0; i-- {
		if t := cands[i].Time; !t.Before(start) && t.Before(start.Add(time.Minute)) {
			return cands[i], nil
		}
	}
	return Candidate{}, fmt.Errorf("%w at %s UTC; newest available: %s", ErrNoDump,
		start.Format("2006-01-02T15:04"), describe(cands, 5))
}

func describe(cands []Candidate, n int) string {
	var names []string
	for i := len(cands) - 1; i >= 0 && len(names) < n; i-- {
		names = append(names, cands[i].Time.Format("2006-01-02T15:04:05Z"))
	}
	return strings.Join(names, ", ")
}

// DrillFormat versions the restore drill evidence layout.
const DrillFormat = "envsync-drill/1"

// Drill is the evidence a restore drill writes beside a dump it restored,
// verified and checked: names and numbers only, never data.
type Drill struct {
	Format string `json:"format"`
	// Key is the dump's data key; Task the drill task.
	Key  string `json:"key"`
	Task string `json:"task"`
	// At is when the drill finished; Seconds how long the restore,
	// verification and checks took.
	At      time.Time `json:"at"`
	Seconds float64   `json:"seconds"`
	// Tables and Rows were verified against the dump's counts.
	Tables int   `json:"tables"`
	Rows   int64 `json:"rows"`
	// Checks is how many of the task's checks passed (all of them).
	Checks         int    `json:"checks"`
	EnvsyncVersion string `json:"envsync_version"`
	WorkerHost     string `json:"worker_host"`
	// Server is the database server the dump was restored on.
	Server string `json:"server"`
}

// Marshal encodes drill evidence for the store.
func (d Drill) Marshal() ([]byte, error) { return json.MarshalIndent(d, "", "  ") }

// UnmarshalDrill decodes drill evidence read from key.
func UnmarshalDrill(key string, data []byte) (Drill, error) {
	var d Drill
	if err := json.Unmarshal(data, &d); err != nil {
		return d, fmt.Errorf("drill evidence %s is not valid JSON: %w", key, err)
	}
	if d.Format != DrillFormat {
		return d, fmt.Errorf("drill evidence %s has format %q; this envsync reads %q", key, d.Format, DrillFormat)
	}
	return d, nil
}
