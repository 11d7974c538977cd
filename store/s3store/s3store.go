// Package s3store keeps dumps in an S3 bucket (or any S3-protocol server)
// through aws-sdk-go-v2. Credentials come from the SDK's standard chain on
// the worker host (environment, shared files, instance role), never from a
// task.
package s3store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/envsync/envsync/store"
)

// Options configure the client. Zero values take the SDK's defaults.
type Options struct {
	Bucket string
	// Endpoint of an S3-compatible server, e.g. http://127.0.0.1:7070;
	// setting it switches to path-style addressing, which such servers
	// expect. Empty: AWS (or AWS_ENDPOINT_URL_S3).
	Endpoint string
	Region   string
	// NoEncryption turns off the default server-side encryption (AES256),
	// for servers that do not implement it.
	NoEncryption bool
	// PartSize of multipart uploads; the upload holds about
	// PartSize*Concurrency bytes in memory whatever the dump's size.
	PartSize    int64
	Concurrency int
}

// Store is one bucket.
type Store struct {
	client *s3.Client
	opts   Options
}

// New builds a client from the standard AWS configuration chain.
func New(ctx context.Context, o Options) (*Store, error) {
	if o.Region == "" {
		o.Region = "us-east-1" // S3 answers in any region; the SDK insists on one
	}
	if o.PartSize == 0 {
		o.PartSize = 16 << 20
	}
	if o.Concurrency == 0 {
		o.Concurrency = 4
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(o.Region))
	if err != nil {
		return nil, fmt.Errorf("s3: load AWS configuration: %w", err)
	}
	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
			so.UsePathStyle = true
		}
	})
	return &Store{client: client, opts: o}, nil
}

func (s *Store) where(key string) string { return "s3://" + s.opts.Bucket + "/" + key }

// Put uploads in parts. S3 makes an object visible only when the upload
// completes, and the uploader aborts the multipart upload on failure, so no
// partial object is ever listed.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	up := manager.NewUploader(s.client, func(u *manager.Uploader) {
		u.PartSize = s.opts.PartSize
		u.Concurrency = s.opts.Concurrency
		u.LeavePartsOnError = false
	})
	in := &s3.PutObjectInput{Bucket: &s.opts.Bucket, Key: &key, Body: r}
	if !s.opts.NoEncryption {
		in.ServerSideEncryption = types.ServerSideEncryptionAes256
	}
	if _, err := up.Upload(ctx, in); err != nil {
		return fmt.Errorf("s3: upload %s: %w", s.where(key), explain(err))
	}
	if size >= 0 {
		obj, err := s.Stat(ctx, key)
		if err != nil {
			return err
		}
		if obj.Size != size {
			return fmt.Errorf("s3: %s has %d bytes after upload, expected %d", s.where(key), obj.Size, size)
		}
	}
	return nil
}

// Get reads from offset with a ranged GET.
func (s *Store) Get(ctx context.Context, key string, offset int64) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{Bucket: &s.opts.Bucket, Key: &key}
	if offset > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("s3: get %s: %w", s.where(key), explain(err))
	}
	return out.Body, nil
}

// Stat describes key.
func (s *Store) Stat(ctx context.Context, key string) (store.Object, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.opts.Bucket, Key: &key})
	if err != nil {
		return store.Object{}, fmt.Errorf("s3: stat %s: %w", s.where(key), explain(err))
	}
	return store.Object{Key: key, Size: aws.ToInt64(out.ContentLength), Modified: aws.ToTime(out.LastModified)}, nil
}

// List pages through the keys under prefix.
func (s *Store) List(ctx context.Context, prefix string) ([]store.Object, error) {
	in := &s3.ListObjectsV2Input{Bucket: &s.opts.Bucket}
	if prefix != "" {
		in.Prefix = aws.String(prefix + "/")
	}
	var out []store.Object
	p := s3.NewListObjectsV2Paginator(s.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("s3: list %s: %w", s.where(prefix), explain(err))
		}
		for _, o := range page.Contents {
			out = append(out, store.Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), Modified: aws.ToTime(o.LastModified)})
		}
	}
	return out, nil
}

// Delete removes key.
func (s *Store) Delete(ctx context.Context, key string) error {
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.opts.Bucket, Key: &key}); err != nil {
		return fmt.Errorf("s3: delete %s: %w", s.where(key), explain(err))
	}
	return nil
}

// explain maps "not found" answers to store.ErrNotExist and adds a hint to
// the errors an operator can fix.
func explain(err error) error {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var re *smithyhttp.ResponseError
	if errors.As(err, &nsk) || errors.As(err, &nf) || (errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound) {
		var api smithy.APIError
		if errors.As(err, &api) && api.ErrorCode() == "NoSuchBucket" {
			return fmt.Errorf("%w (the bucket does not exist: create it or fix url)", err)
		}
		return fmt.Errorf("%w: %w", store.ErrNotExist, err)
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch":
			return fmt.Errorf("%w (check the worker's AWS credentials and the bucket policy)", err)
		}
	}
	return err
}
