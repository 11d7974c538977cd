package s3store

import (
	"context"
	"regexp"

	"github.com/envsync/envsync/store"
)

var bucketRe = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// BucketRule says in words what bucketRe accepts.
const BucketRule = "3-63 characters of lower-case ASCII letters a-z, digits 0-9, . and -, starting and ending with a letter or digit"

func init() {
	store.Register(store.Info{
		Name: "s3",
		// A push prunes its dumps here (retention).
		Fields: []string{"keep", "keep_days"},
		Check: func(url, _ string) (string, string, string) {
			if !bucketRe.MatchString(url) {
				return "url", url, "not a valid S3 bucket name: " + BucketRule
			}
			return "", "", ""
		},
		New: func(ctx context.Context, s store.Spec) (store.Store, error) {
			return New(ctx, Options{Bucket: s.URL, Endpoint: s.S3Endpoint, Region: s.S3Region, NoEncryption: s.S3NoEncryption,
				ExpectedSize: s.ExpectedSize, StallAfter: s.StallAfter, AnswerWithin: s.AnswerWithin})
		},
	})
}
