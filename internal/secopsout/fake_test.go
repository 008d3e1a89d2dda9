package secopsout

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// fakeS3 is an in-memory objectAPI with create-only semantics, for unit
// tests of the writer's request sequence. The integration tests use a real
// S3 server.
type fakeS3 struct {
	mu       sync.Mutex
	objects  map[string]fakeObject
	uploads  map[string]*fakeUpload
	calls    []string
	failOn   map[string]error // operation name → error to return (once)
	nextID   int
	aborted  int
	lastPart []int // part sizes of the last completed upload
}

type fakeObject struct {
	body            []byte
	contentType     string
	contentEncoding string
	sse             string
	storageClass    string
}

type fakeUpload struct {
	key   string
	meta  fakeObject
	parts map[int32][]byte
}

func newFakeS3() *fakeS3 {
	return &fakeS3{objects: map[string]fakeObject{}, uploads: map[string]*fakeUpload{}, failOn: map[string]error{}}
}

func (f *fakeS3) fail(op string) error {
	f.calls = append(f.calls, op)
	if err, ok := f.failOn[op]; ok {
		delete(f.failOn, op)
		return err
	}
	return nil
}

func (f *fakeS3) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	body, err := io.ReadAll(in.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail("PutObject"); err != nil {
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if aws.ToString(in.IfNoneMatch) != "*" {
		return nil, fmt.Errorf("fake: PutObject without If-None-Match")
	}
	if _, ok := f.objects[*in.Key]; ok {
		return nil, apiErr(http.StatusPreconditionFailed, "PreconditionFailed")
	}
	f.objects[*in.Key] = fakeObject{body, aws.ToString(in.ContentType), aws.ToString(in.ContentEncoding), string(in.ServerSideEncryption), string(in.StorageClass)}
	return &s3.PutObjectOutput{}, nil
}

func (f *fakeS3) CreateMultipartUpload(_ context.Context, in *s3.CreateMultipartUploadInput, _ ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail("CreateMultipartUpload"); err != nil {
		return nil, err
	}
	f.nextID++
	id := strconv.Itoa(f.nextID)
	f.uploads[id] = &fakeUpload{key: *in.Key, parts: map[int32][]byte{},
		meta: fakeObject{nil, aws.ToString(in.ContentType), aws.ToString(in.ContentEncoding), string(in.ServerSideEncryption), string(in.StorageClass)}}
	return &s3.CreateMultipartUploadOutput{UploadId: aws.String(id)}, nil
}

func (f *fakeS3) UploadPart(_ context.Context, in *s3.UploadPartInput, _ ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	body, _ := io.ReadAll(in.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail("UploadPart"); err != nil {
		return nil, err
	}
	u, ok := f.uploads[*in.UploadId]
	if !ok {
		return nil, apiErr(404, "NoSuchUpload")
	}
	u.parts[*in.PartNumber] = body
	return &s3.UploadPartOutput{ETag: aws.String("etag-" + strconv.Itoa(int(*in.PartNumber)))}, nil
}

func (f *fakeS3) CompleteMultipartUpload(_ context.Context, in *s3.CompleteMultipartUploadInput, _ ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail("CompleteMultipartUpload"); err != nil {
		return nil, err
	}
	u, ok := f.uploads[*in.UploadId]
	if !ok {
		return nil, apiErr(404, "NoSuchUpload")
	}
	if aws.ToString(in.IfNoneMatch) != "*" {
		return nil, fmt.Errorf("fake: Complete without If-None-Match")
	}
	if _, ok := f.objects[u.key]; ok {
		return nil, apiErr(http.StatusPreconditionFailed, "PreconditionFailed")
	}
	var body bytes.Buffer
	f.lastPart = nil
	for i, p := range in.MultipartUpload.Parts {
		if *p.PartNumber != int32(i+1) || *p.ETag != "etag-"+strconv.Itoa(i+1) {
			return nil, fmt.Errorf("fake: bad part list %v", p)
		}
		body.Write(u.parts[*p.PartNumber])
		f.lastPart = append(f.lastPart, len(u.parts[*p.PartNumber]))
	}
	obj := u.meta
	obj.body = body.Bytes()
	f.objects[u.key] = obj
	delete(f.uploads, *in.UploadId)
	return &s3.CompleteMultipartUploadOutput{}, nil
}

func (f *fakeS3) AbortMultipartUpload(_ context.Context, in *s3.AbortMultipartUploadInput, _ ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail("AbortMultipartUpload"); err != nil {
		return nil, err
	}
	delete(f.uploads, *in.UploadId)
	f.aborted++
	return &s3.AbortMultipartUploadOutput{}, nil
}
