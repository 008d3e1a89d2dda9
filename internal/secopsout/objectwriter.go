package secopsout

import (
	"cmp"
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// objectAPI is the part of the S3 API the writer uses (*s3.Client has it).
type objectAPI interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPart(context.Context, *s3.UploadPartInput, ...func(*s3.Options)) (*s3.UploadPartOutput, error)
	CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
}

// objectSpec holds what every object of an output instance shares.
type objectSpec struct {
	bucket          string
	contentEncoding bool
	sse             string
	kmsKeyID        string
	storageClass    string
	checksums       bool // name CRC32 on multipart uploads (real AWS only)
	threshold       int
	partSize        int
}

// NDJSONContentType is the Content-Type of every object, as Google's recipe sends it.
const NDJSONContentType = "application/x-ndjson"

// maxParts is S3's limit on the parts of one multipart upload.
const maxParts = 10000

// abortTimeout bounds the clean-up call after a failed multipart upload; it
// runs on a fresh context because the flush's own may have expired.
const abortTimeout = 30 * time.Second

// maxInFlight bounds the parts uploaded while the next is being compressed.
// One hides the upload behind the compression and holds two parts in all.
const maxInFlight = 1

// objectWriter receives the compressed stream of one chunk. Up to the
// multipart threshold it only buffers, and Close stores the object with one
// create-only PutObject. Past the threshold it switches to a multipart upload
// and uploads each full part in the background while the next one fills, so
// memory stays near threshold + part size whatever the chunk size; with the
// default threshold of one part, two parts. The key is asked for only when
// the first request is made, by which time the first record is known.
type objectWriter struct {
	ctx  context.Context
	api  objectAPI
	spec *objectSpec
	key  func() string
	pool *blockPool

	held        []part     // full parts kept while the object may fit one PutObject
	cur         part       // the part being filled
	sent        []sentPart // parts being uploaded, oldest first
	buffered    int        // compressed bytes held: held, cur and sent
	keyUsed     string
	uploadID    *string
	parts       []types.CompletedPart
	stored      int64 // compressed bytes sent in parts so far
	maxBuffered int
	err         error
}

// sentPart is a part being uploaded; done receives the outcome.
type sentPart struct {
	part
	done chan partResult
}

type partResult struct {
	part types.CompletedPart
	err  error
}

func newObjectWriter(ctx context.Context, api objectAPI, spec *objectSpec, key func() string, pool *blockPool) *objectWriter {
	return &objectWriter{ctx: ctx, api: api, spec: spec, key: key, pool: pool}
}

// Write buffers p; in multipart mode full parts are uploaded.
func (w *objectWriter) Write(p []byte) (int, error) {
	n := len(p)
	for w.err == nil && len(p) > 0 {
		if w.cur.size == w.spec.partSize {
			// Only with more to come: the last part is sent by Close.
			full := w.cur
			w.cur = part{}
			if w.uploadID == nil {
				w.held = append(w.held, full)
			} else {
				w.err = w.send(full)
			}
			continue
		}
		c := min(len(p), w.spec.partSize-w.cur.size)
		if off := w.cur.size % blockSize; len(w.sent) > 0 && (off == 0 || off+c > blockSize) {
			// A block is needed: perhaps an upload has freed some.
			if w.err = w.reap(); w.err != nil {
				break
			}
		}
		w.cur.write(w.pool, p[:c])
		p = p[c:]
		w.buffered += c
		w.maxBuffered = max(w.maxBuffered, w.buffered)
		if w.uploadID == nil && len(w.held)*w.spec.partSize+w.cur.size > w.spec.threshold {
			w.err = w.startMultipart()
			for len(w.held) > 0 && w.err == nil {
				w.err = w.send(w.held[0])
				w.held = w.held[1:]
			}
		}
	}
	if w.err != nil {
		return n - len(p), w.err
	}
	return n, nil
}

// Close stores what is buffered: one PutObject, or the last part and the
// completion of the multipart upload. errAlreadyStored (wrapped) means the
// key existed.
func (w *objectWriter) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.uploadID == nil {
		w.err = w.put()
		return w.err
	}
	if w.cur.size > 0 {
		last := w.cur
		w.cur = part{}
		if w.err = w.send(last); w.err != nil {
			return w.err
		}
	}
	if w.err = w.wait(0); w.err != nil {
		return w.err
	}
	w.err = w.complete()
	return w.err
}

// release gives the writer's blocks back for reuse. Only after a flush that
// stored its object: after a failure a cancelled request may still read them.
func (w *objectWriter) release() {
	for i := range w.held {
		w.held[i].release(w.pool)
	}
	w.held = nil
	w.cur.release(w.pool)
}

// Abort cancels an unfinished multipart upload so no parts linger (and bill).
// It returns the abort's own error, if any.
func (w *objectWriter) Abort() error {
	// Parts still being uploaded end first (their context is done or they
	// complete); their outcome no longer matters.
	_ = w.wait(0)
	if w.uploadID == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), abortTimeout)
	defer cancel()
	_, err := w.api.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(w.spec.bucket), Key: aws.String(w.keyUsed), UploadId: w.uploadID,
	})
	w.uploadID = nil
	if err != nil {
		return fmt.Errorf("AbortMultipartUpload %s: %w", w.keyUsed, err)
	}
	return nil
}

func (w *objectWriter) contentEncoding() *string {
	if w.spec.contentEncoding {
		return aws.String("gzip")
	}
	return nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

func (w *objectWriter) put() error {
	w.keyUsed = w.key()
	var segs [][]byte
	for i := range w.held {
		segs = w.held[i].appendSegments(segs)
	}
	segs = w.cur.appendSegments(segs)
	_, err := w.api.PutObject(w.ctx, &s3.PutObjectInput{
		Bucket:               aws.String(w.spec.bucket),
		Key:                  aws.String(w.keyUsed),
		Body:                 newSegmentReader(segs),
		ContentLength:        aws.Int64(int64(w.buffered)),
		ContentType:          aws.String(NDJSONContentType),
		ContentEncoding:      w.contentEncoding(),
		IfNoneMatch:          aws.String("*"),
		ServerSideEncryption: types.ServerSideEncryption(w.spec.sse),
		SSEKMSKeyId:          optional(w.spec.kmsKeyID),
		StorageClass:         types.StorageClass(w.spec.storageClass),
	})
	if isPreconditionFailed(err) {
		return fmt.Errorf("PutObject %s: %w", w.keyUsed, errAlreadyStored)
	}
	if err != nil {
		return fmt.Errorf("PutObject %s: %w", w.keyUsed, err)
	}
	w.stored = int64(w.buffered)
	return nil
}

func (w *objectWriter) startMultipart() error {
	w.keyUsed = w.key()
	in := &s3.CreateMultipartUploadInput{
		Bucket:               aws.String(w.spec.bucket),
		Key:                  aws.String(w.keyUsed),
		ContentType:          aws.String(NDJSONContentType),
		ContentEncoding:      w.contentEncoding(),
		ServerSideEncryption: types.ServerSideEncryption(w.spec.sse),
		SSEKMSKeyId:          optional(w.spec.kmsKeyID),
		StorageClass:         types.StorageClass(w.spec.storageClass),
	}
	if w.spec.checksums {
		in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32
	}
	out, err := w.api.CreateMultipartUpload(w.ctx, in)
	if err != nil {
		return fmt.Errorf("CreateMultipartUpload %s: %w", w.keyUsed, err)
	}
	w.uploadID = out.UploadId
	return nil
}

// send starts the upload of p in the background, once fewer than
// maxInFlight uploads are running.
func (w *objectWriter) send(p part) error {
	if err := w.wait(maxInFlight - 1); err != nil {
		return err
	}
	n := int32(len(w.parts) + len(w.sent) + 1)
	if n > maxParts {
		return fmt.Errorf("UploadPart %s: more than %d parts; raise multipart_part_size", w.keyUsed, maxParts)
	}
	done := make(chan partResult, 1)
	w.sent = append(w.sent, sentPart{p, done})
	in := &s3.UploadPartInput{
		Bucket:        aws.String(w.spec.bucket),
		Key:           aws.String(w.keyUsed),
		UploadId:      w.uploadID,
		PartNumber:    aws.Int32(n),
		Body:          newSegmentReader(p.appendSegments(nil)),
		ContentLength: aws.Int64(int64(p.size)),
	}
	if w.spec.checksums {
		in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32
	}
	go w.uploadPart(in, done)
	return nil
}

// uploadPart runs in its own goroutine: a panic there would end Fluent Bit,
// so it becomes the part's error.
func (w *objectWriter) uploadPart(in *s3.UploadPartInput, done chan<- partResult) {
	var r partResult
	defer func() {
		if v := recover(); v != nil {
			r.err = fmt.Errorf("UploadPart %d of %s: internal error (please report this with the stack): %v\n%s", *in.PartNumber, w.keyUsed, v, debug.Stack())
		}
		done <- r
	}()
	out, err := w.api.UploadPart(w.ctx, in)
	if err != nil {
		r.err = fmt.Errorf("UploadPart %d of %s: %w", *in.PartNumber, w.keyUsed, err)
		return
	}
	r.part = types.CompletedPart{ETag: out.ETag, PartNumber: in.PartNumber, ChecksumCRC32: out.ChecksumCRC32}
}

// wait collects finished uploads until at most keep are running. A part
// that was stored gives its blocks back; the first error is returned, after
// every upload it waited for has ended.
func (w *objectWriter) wait(keep int) error {
	var first error
	for len(w.sent) > keep {
		first = cmp.Or(first, w.collect(<-w.sent[0].done))
	}
	return first
}

// reap collects the uploads that have finished, without waiting, so that the
// part being filled reuses their blocks: with an upload faster than the
// compression, a flush holds little more than one part.
func (w *objectWriter) reap() error {
	for len(w.sent) > 0 {
		select {
		case r := <-w.sent[0].done:
			if err := w.collect(r); err != nil {
				return err
			}
		default:
			return nil
		}
	}
	return nil
}

// collect takes the outcome r of the oldest upload.
func (w *objectWriter) collect(r partResult) error {
	s := w.sent[0]
	w.sent = w.sent[1:]
	w.buffered -= s.size
	if r.err != nil {
		return r.err
	}
	w.parts = append(w.parts, r.part)
	w.stored += int64(s.size)
	s.release(w.pool)
	return nil
}

func (w *objectWriter) complete() error {
	_, err := w.api.CompleteMultipartUpload(w.ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(w.spec.bucket),
		Key:             aws.String(w.keyUsed),
		UploadId:        w.uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: w.parts},
		IfNoneMatch:     aws.String("*"),
	})
	if isPreconditionFailed(err) {
		return fmt.Errorf("CompleteMultipartUpload %s: %w", w.keyUsed, errAlreadyStored)
	}
	if err != nil {
		return fmt.Errorf("CompleteMultipartUpload %s: %w", w.keyUsed, err)
	}
	w.uploadID = nil // completed: nothing to abort
	return nil
}
