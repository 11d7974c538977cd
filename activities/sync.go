package activities

import (
	"context"
	"fmt"
	"maps"
	"path"
	"slices"
	"time"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/datapath"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/store"
)

// SyncInput asks for an s3_sync run.
type SyncInput struct {
	Task config.Task
}

// Skipped is a source dump that was not copied, and why.
type Skipped struct {
	Key    string `json:"key"`
	Reason string `json:"reason"`
}

// SyncResult lists what a sync did, by source key.
type SyncResult struct {
	Copied    []string  `json:"copied,omitempty"`
	Unchanged []string  `json:"unchanged,omitempty"`
	Deleted   []string  `json:"deleted,omitempty"`
	Skipped   []Skipped `json:"skipped,omitempty"`
	Bytes     int64     `json:"bytes"`
	Seconds   float64   `json:"seconds"`
}

// SyncStores copies every complete dump (data with manifest) under the
// source prefix to the target prefix, data first and manifest last, checking
// the bytes against the manifest on the way; a dump whose data does not
// match is skipped, never copied. With delete, dumps the source no longer
// has are removed from the target (manifest first, so a half-deleted dump
// is never taken for a complete one). Objects that are not dumps are left
// alone on both sides.
func (a *Activities) SyncStores(ctx context.Context, in SyncInput) (SyncResult, error) {
	t := in.Task
	start := time.Now()
	src, err := a.storeAt(ctx, t.StorageBackend, t.URL, 0)
	if err != nil {
		return SyncResult{}, err
	}
	dst, err := a.storeAt(ctx, t.StorageBackend, t.TargetURL, 0)
	if err != nil {
		return SyncResult{}, err
	}
	srcDumps, err := dumps(ctx, src, t.Path, t.Database)
	if err != nil {
		return SyncResult{}, fmt.Errorf("list source s3://%s/%s: %w", t.URL, t.Path, err)
	}
	dstDumps, err := dumps(ctx, dst, t.TargetPath, t.Database)
	if err != nil {
		return SyncResult{}, fmt.Errorf("list target s3://%s/%s: %w", t.TargetURL, t.TargetPath, err)
	}
	m := startMeter(ctx)
	defer m.Stop()
	var res SyncResult
	for _, name := range slices.Sorted(maps.Keys(srcDumps)) {
		key := srcDumps[name]
		if err := ctx.Err(); err != nil {
			return res, err
		}
		man, err := a.readManifest(ctx, src, key)
		if err != nil {
			res.Skipped = append(res.Skipped, Skipped{key, err.Error()})
			continue
		}
		target := join(t.TargetPath, name)
		if have, ok := dstDumps[name]; ok {
			if dm, err := a.readManifest(ctx, dst, have); err == nil && dm.SHA256 == man.SHA256 && dm.Size == man.Size {
				res.Unchanged = append(res.Unchanged, key)
				continue
			}
		}
		if reason, err := datapath.Copy(ctx, src, dst, key, target, man, a.cfg.UploadLimit, m.Meter); err != nil {
			return res, translate(err)
		} else if reason != "" {
			res.Skipped = append(res.Skipped, Skipped{key, reason})
			continue
		}
		res.Copied = append(res.Copied, key)
		res.Bytes += man.Size
	}
	if t.Delete {
		for _, name := range slices.Sorted(maps.Keys(dstDumps)) {
			key := dstDumps[name]
			if _, ok := srcDumps[name]; ok {
				continue
			}
			for _, k := range []string{dump.ManifestKey(key), key} {
				if err := dst.Delete(ctx, k); err != nil {
					return res, fmt.Errorf("delete %s from the target: %w", k, err)
				}
			}
			res.Deleted = append(res.Deleted, key)
		}
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// dumps maps each complete dump's name (the key without the prefix) to its
// key, optionally for one database only.
func dumps(ctx context.Context, st store.Store, prefix, database string) (map[string]string, error) {
	objs, err := st.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, o := range objs {
		have[o.Key] = true
	}
	out := map[string]string{}
	for _, o := range objs {
		db, _, ok := dump.Parse(prefix, o.Key)
		// Only dumps with a manifest are complete.
		if !ok || (database != "" && db != database) || !have[dump.ManifestKey(o.Key)] {
			continue
		}
		out[path.Base(o.Key)] = o.Key
	}
	return out, nil
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "/" + name
}
