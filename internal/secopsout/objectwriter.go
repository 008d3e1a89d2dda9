package secopsout

import (
	"bytes"
	"context"
	"fmt"
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

// objectWriter receives the compressed stream of one chunk. Up to the
// multipart threshold it only buffers, and Close stores the object with one
// create-only PutObject. Past the threshold it switches to a multipart upload
// and sends each full part as soon as it is buffered, so memory stays near
// threshold + part size whatever the chunk size. The key is asked for only
// when the first request is made, by which time the first record is known.
type objectWriter struct {
	ctx  context.Context
	api  objectAPI
	spec *objectSpec
	key  func() string

	buf         []byte
	keyUsed     string
	uploadID    *string
	parts       []types.CompletedPart
	stored      int64 // compressed bytes sent in parts so far
	maxBuffered int
	err         error
}

func newObjectWriter(ctx context.Context, api objectAPI, spec *objectSpec, key func() string, buf []byte) *objectWriter {
	return &objectWriter{ctx: ctx, api: api, spec: spec, key: key, buf: buf[:0]}
}

// Write buffers p and uploads full parts once in multipart mode.
func (w *objectWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	w.buf = append(w.buf, p...)
	w.maxBuffered = max(w.maxBuffered, len(w.buf))
	if w.uploadID == nil && len(w.buf) > w.spec.threshold {
		if w.err = w.startMultipart(); w.err != nil {
			return 0, w.err
		}
	}
	for w.uploadID != nil && len(w.buf) >= w.spec.partSize {
		if w.err = w.uploadPart(w.buf[:w.spec.partSize]); w.err != nil {
			return 0, w.err
		}
		n := copy(w.buf, w.buf[w.spec.partSize:])
		w.buf = w.buf[:n]
	}
	return len(p), nil
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
	if len(w.buf) > 0 {
		if w.err = w.uploadPart(w.buf); w.err != nil {
			return w.err
		}
		w.buf = w.buf[:0]
	}
	w.err = w.complete()
	return w.err
}

// Abort cancels an unfinished multipart upload so no parts linger (and bill).
// It returns the abort's own error, if any.
func (w *objectWriter) Abort() error {
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
	_, err := w.api.PutObject(w.ctx, &s3.PutObjectInput{
		Bucket:               aws.String(w.spec.bucket),
		Key:                  aws.String(w.keyUsed),
		Body:                 bytes.NewReader(w.buf),
		ContentLength:        aws.Int64(int64(len(w.buf))),
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
	w.stored = int64(len(w.buf))
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

func (w *objectWriter) uploadPart(p []byte) error {
	n := int32(len(w.parts) + 1)
	if n > maxParts {
		return fmt.Errorf("UploadPart %s: more than %d parts; raise multipart_part_size", w.keyUsed, maxParts)
	}
	in := &s3.UploadPartInput{
		Bucket:        aws.String(w.spec.bucket),
		Key:           aws.String(w.keyUsed),
		UploadId:      w.uploadID,
		PartNumber:    aws.Int32(n),
		Body:          bytes.NewReader(p),
		ContentLength: aws.Int64(int64(len(p))),
	}
	if w.spec.checksums {
		in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32
	}
	out, err := w.api.UploadPart(w.ctx, in)
	if err != nil {
		return fmt.Errorf("UploadPart %d of %s: %w", n, w.keyUsed, err)
	}
	w.parts = append(w.parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n), ChecksumCRC32: out.ChecksumCRC32})
	w.stored += int64(len(p))
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
