// Package s3store keeps dumps in an S3 bucket (or any S3-protocol server)
// through aws-sdk-go-v2. Credentials come from the SDK's standard chain on
// the worker host (environment, shared files, instance role), never from a
// task.
package s3store

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
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
	// PartSize of multipart uploads; 0 chooses it from ExpectedSize so
	// that a dump of that size fits S3's 10,000 parts with room to spare
	// (8 MiB at least, doubling every 1000 parts past the expectation).
	// Parts in flight are limited to about 128 MiB, plus the part being
	// read: some 40 MiB for dumps up to 16 GiB, a part or two of the
	// largest ones (TiB).
	PartSize int64
	// ExpectedSize is a guess of what a streamed upload will hold (the
	// last dump's size); 0: unknown.
	ExpectedSize int64
	// Concurrency is how many parts are in flight at once; default 4
	// (fewer for parts too large to hold four of).
	Concurrency int
	// StallAfter fails a transfer (a part, an object read) whose bytes
	// have not moved for this long (a server that accepts connections
	// and never answers), so the step fails and is retried instead of
	// hanging; default 45s.
	StallAfter time.Duration
	// AnswerWithin fails a metadata call (a listing, the start or abort
	// of an upload, a manifest, a delete) that gets no answer for this
	// long; default 10s. After either limit, the store's later calls fail
	// at once (see stallClient).
	AnswerWithin time.Duration

	// transport replaces the HTTP transport, for tests that damage
	// requests on their way.
	transport http.RoundTripper
}

// Store is one bucket.
type Store struct {
	client *s3.Client
	opts   Options
}

const (
	minPartSize = 8 << 20
	maxPartSize = 5 << 30 // S3's limit
	maxParts    = 10000
	// Part sizes double every partsPerSize parts, so even a dump far
	// bigger than expected fits in maxParts: 8 MiB parts reach 8 TiB.
	partsPerSize = 1000
)

// New builds a client from the standard AWS configuration chain.
func New(ctx context.Context, o Options) (*Store, error) {
	if o.Region == "" {
		o.Region = "us-east-1" // S3 answers in any region; the SDK insists on one
	}
	if o.PartSize == 0 {
		o.PartSize = partSizeFor(o.ExpectedSize)
	}
	if o.Concurrency == 0 {
		o.Concurrency = 4
	}
	if o.StallAfter == 0 {
		o.StallAfter = 45 * time.Second
	}
	if o.AnswerWithin == 0 {
		o.AnswerWithin = 10 * time.Second
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(o.Region))
	if err != nil {
		return nil, fmt.Errorf("s3: load AWS configuration: %w", err)
	}
	if o.transport != nil {
		cfg.HTTPClient = &http.Client{Transport: o.transport} // tests only
	}
	// Wrap the client the configuration built (with its CA bundle,
	// proxies and timeouts) rather than replace it.
	cfg.HTTPClient = &stallClient{base: cfg.HTTPClient, answer: o.AnswerWithin, after: o.StallAfter}
	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
			so.UsePathStyle = true
		}
		// envsync hashes every dump once, in the stream, and checks it
		// on every pull: no checksum the SDK computes of each part on
		// the way up (a part carries its own CRC32C, see crc32c), and
		// none of an object on the way down, where the server's stored
		// CRC64 cost a pull from S3 0.3 s of CPU per 200 MB on the test
		// machine, beside the sha256 that already decides whether it is
		// damaged.
		so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		// A stalled request fails the step at once: the SDK's own
		// retries would wait out the stall three times over.
		so.Retryer = retry.NewStandard(func(ro *retry.StandardOptions) {
			ro.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
				if errors.Is(err, errStalled) {
					return aws.FalseTernary
				}
				// A part damaged on its way (its CRC did not match) is
				// sent again from memory, not dumped again.
				var api smithy.APIError
				if errors.As(err, &api) && api.ErrorCode() == "BadDigest" {
					return aws.TrueTernary
				}
				return aws.UnknownTernary
			})}, ro.Retryables...)
		})
	})
	return &Store{client: client, opts: o}, nil
}

// ForSize is the store with its uploads sized for about n bytes (see
// Options.PartSize), sharing this one's client: a store found away stays
// away.
func (s *Store) ForSize(n int64) store.Store {
	o := s.opts
	o.ExpectedSize, o.PartSize = n, partSizeFor(n)
	return &Store{client: s.client, opts: o}
}

// partSizeFor aims for at most a fifth of S3's parts at the expected size.
func partSizeFor(expected int64) int64 {
	return min(maxPartSize, max(minPartSize, (expected/(maxParts/5)+(1<<20)-1)&^((1<<20)-1)))
}

func (s *Store) where(key string) string { return "s3://" + s.opts.Bucket + "/" + key }

// Put uploads r in parts, several at once, while r is still being
// written: the first part is on its way while the database is still being
// read. S3 makes an object visible only when the upload completes, and a
// failed upload is aborted, so no partial object is ever listed (an abort
// that fails too is swept up by Sweep). size, when >= 0, is checked
// against what was uploaded.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	partSize := s.opts.PartSize
	if size > 0 {
		partSize = min(maxPartSize, max(partSize, (size/(maxParts/2)+(1<<20)-1)&^((1<<20)-1)))
	}
	first := make([]byte, partSize)
	if size >= 0 && size < partSize {
		first = make([]byte, size+1) // a manifest: a few KiB, not a part
	}
	n, err := io.ReadFull(r, first)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		// Small enough for one request.
		return s.putOne(ctx, key, first[:n], size)
	} else if err != nil {
		return fmt.Errorf("s3: upload %s: read: %w", s.where(key), err)
	}
	// Each part carries its CRC32C, which the server checks before it
	// keeps the part (see crc32c and upload.part).
	in := &s3.CreateMultipartUploadInput{Bucket: &s.opts.Bucket, Key: &key, ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c}
	if !s.opts.NoEncryption {
		in.ServerSideEncryption = types.ServerSideEncryptionAes256
	}
	created, err := s.client.CreateMultipartUpload(ctx, in)
	if err != nil {
		return fmt.Errorf("s3: upload %s: %w", s.where(key), explain(err))
	}
	inFlight := max(1, min(s.opts.Concurrency, int((128<<20)/partSize)))
	up := &upload{s: s, key: key, id: created.UploadId, sem: make(chan struct{}, inFlight), free: make(chan []byte, inFlight+1)}
	total, err := up.run(ctx, r, first, partSize)
	if err == nil && size >= 0 && total != size {
		err = fmt.Errorf("%d bytes read, expected %d", total, size)
	}
	if err == nil {
		_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &s.opts.Bucket, Key: &key,
			UploadId: created.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: up.parts}})
		err = explain(err)
	}
	if err != nil {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if _, aerr := s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &s.opts.Bucket, Key: &key, UploadId: created.UploadId}); aerr != nil {
			return fmt.Errorf("s3: upload %s: %w (aborting the upload failed too: %v; the next push of this database sweeps it up)", s.where(key), err, explain(aerr))
		}
		return fmt.Errorf("s3: upload %s: %w", s.where(key), err)
	}
	return nil
}

func (s *Store) putOne(ctx context.Context, key string, body []byte, size int64) error {
	if size >= 0 && int64(len(body)) != size {
		return fmt.Errorf("s3: upload %s: %d bytes read, expected %d", s.where(key), len(body), size)
	}
	in := &s3.PutObjectInput{Bucket: &s.opts.Bucket, Key: &key, Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))}
	if !s.opts.NoEncryption {
		in.ServerSideEncryption = types.ServerSideEncryptionAes256
	}
	if _, err := s.client.PutObject(ctx, in); err != nil {
		return fmt.Errorf("s3: upload %s: %w", s.where(key), explain(err))
	}
	return nil
}

// upload is one multipart upload in flight.
type upload struct {
	s   *Store
	key string
	id  *string
	sem chan struct{}
	// free holds part buffers whose upload is done, for the next parts:
	// a fresh buffer per part would leave the garbage collector a
	// multiple of the parts in flight to grow the heap into.
	free chan []byte
	// signed: the server does not check part checksums, so parts go up
	// with their payload signed (upload.part).
	signed atomic.Bool
	mu     sync.Mutex
	parts  []types.CompletedPart
	err    error
}

// run reads r part by part, starting with first, and uploads up to
// Concurrency parts at once while it reads the next: at most
// Concurrency+1 parts are in memory. It returns the bytes read.
func (u *upload) run(ctx context.Context, r io.Reader, first []byte, partSize int64) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var total int64
	buf := first
	for num := int32(1); buf != nil; num++ {
		if num > maxParts {
			u.fail(fmt.Errorf("more than %d parts", maxParts))
			break
		}
		select {
		case u.sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		total += int64(len(buf))
		wg.Add(1)
		go func(num int32, body []byte) {
			defer wg.Done()
			defer func() { <-u.sem }()
			sum := crc32c(body)
			out, err := u.part(ctx, num, body, sum)
			if err != nil {
				u.fail(fmt.Errorf("part %d: %w", num, explain(err)))
				cancel()
				return
			}
			u.mu.Lock()
			u.parts = append(u.parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num), ChecksumCRC32C: sum})
			u.mu.Unlock()
			select {
			case u.free <- body[:cap(body)]:
			default:
			}
		}(num, buf)
		if int64(len(buf)) < partSize {
			break // that was the last, short part
		}
		buf = nil
		partSize = grow(partSize, num)
		next := u.buffer(partSize)
		n, err := io.ReadFull(r, next)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			u.fail(fmt.Errorf("read: %w", err))
			break
		}
		if n > 0 {
			buf = next[:n]
		}
	}
	wg.Wait()
	slices.SortFunc(u.parts, func(a, b types.CompletedPart) int { return int(aws.ToInt32(a.PartNumber) - aws.ToInt32(b.PartNumber)) })
	if err := u.failed(); err != nil {
		return total, err
	}
	return total, ctx.Err()
}

// part uploads one part with its CRC32C sum. A server that answers
// without the sum did not check it (S3-compatible servers from before
// S3's checksums ignore the header): the part goes again as every part
// did before, and so do the upload's later parts: over plain HTTP with
// its payload signed, which such a server checks; over HTTPS the SDK
// leaves it unsigned, guarded by TLS.
func (u *upload) part(ctx context.Context, num int32, body []byte, sum *string) (*s3.UploadPartOutput, error) {
	in := &s3.UploadPartInput{Bucket: &u.s.opts.Bucket, Key: &u.key, UploadId: u.id, PartNumber: aws.Int32(num),
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))), ChecksumCRC32C: sum}
	if u.signed.Load() {
		return u.s.client.UploadPart(ctx, in)
	}
	out, err := u.s.client.UploadPart(ctx, in, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
	if err != nil || aws.ToString(out.ChecksumCRC32C) == *sum {
		return out, err
	}
	u.signed.Store(true)
	in.Body = bytes.NewReader(body)
	return u.s.client.UploadPart(ctx, in)
}

// castagnoli is CRC32C's table; hash/crc32 computes it with the CPU's
// CRC instruction where there is one.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32c is a part's checksum as S3 wants it (base64 of the big-endian
// CRC32C). A part goes up with it and an unsigned payload, which the
// server checks before it keeps the part (S3 answers BadDigest, and the
// SDK sends the part again). Before, over plain HTTP, the SDK signed each
// part's payload with its sha256 (about 0.14 s of the worker's CPU per
// 200 MB on the test machine, and as much again on a server that checks
// it), for a fifteenth of which the CRC guards the same bytes (hash/crc32
// runs at 23 GB/s there, sha256 at 1.6); over HTTPS the SDK already sent
// parts unsigned and, without a CRC, unchecked. The dump's own sha256,
// taken in the stream, still decides on every pull whether what came back
// is what went up.
func crc32c(b []byte) *string {
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.Checksum(b, castagnoli))
	return aws.String(base64.StdEncoding.EncodeToString(sum[:]))
}

// buffer is a part buffer of size bytes, reused when one is free.
func (u *upload) buffer(size int64) []byte {
	select {
	case b := <-u.free:
		if int64(cap(b)) >= size {
			return b[:size]
		}
	default:
	}
	return make([]byte, size)
}

// grow is the size of the part after part num: doubled every
// partsPerSize parts, so the 10,000 parts S3 allows hold far more than was
// expected (8 MiB parts reach 8 TiB) while small dumps keep small parts.
func grow(partSize int64, num int32) int64 {
	if num%partsPerSize == 0 {
		return min(partSize*2, maxPartSize)
	}
	return partSize
}

func (u *upload) fail(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err == nil {
		u.err = err
	}
}

func (u *upload) failed() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.err
}

// Sweep aborts the unfinished multipart uploads under prefix that match:
// the debris of uploads whose abort failed. It returns how many it aborted.
func (s *Store) Sweep(ctx context.Context, prefix string, match func(key string, started time.Time) bool) (int, error) {
	in := &s3.ListMultipartUploadsInput{Bucket: &s.opts.Bucket}
	if prefix != "" {
		in.Prefix = aws.String(prefix + "/")
	}
	n := 0
	for {
		out, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return n, fmt.Errorf("s3: list unfinished uploads in %s: %w", s.where(prefix), explain(err))
		}
		for _, u := range out.Uploads {
			if !match(aws.ToString(u.Key), aws.ToTime(u.Initiated)) {
				continue
			}
			if _, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &s.opts.Bucket, Key: u.Key, UploadId: u.UploadId}); err != nil {
				return n, fmt.Errorf("s3: abort unfinished upload of %s: %w", s.where(aws.ToString(u.Key)), explain(err))
			}
			n++
		}
		if !aws.ToBool(out.IsTruncated) {
			return n, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
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
			return fmt.Errorf("%w (the bucket does not exist: create it or fix url): %w", store.ErrRefused, err)
		}
		return fmt.Errorf("%w: %w", store.ErrNotExist, err)
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch":
			return fmt.Errorf("%w (check the worker's AWS credentials and the bucket policy): %w", store.ErrRefused, err)
		}
	}
	return err
}
