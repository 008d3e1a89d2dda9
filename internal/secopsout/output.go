package secopsout

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
	"github.com/digicert-secops/fluent-bit-digicert/internal/metrics"
)

// startupTimeout bounds what New asks over the network: the credentials
// (an instance, pod or STS role may be behind them) and the bucket checks.
// Loading the configuration (files, a CA bundle) is local work and is not
// counted: on a slow or busy host it alone once took longer than this.
var startupTimeout = 30 * time.Second

// loadConfig is loadAWSConfig; tests replace it.
var loadConfig = loadAWSConfig

// GCPercent is the GOGC of the plugin's Go runtime unless the environment
// sets one. Its live heap is small (a flush's blocks, the gzip state), and the
// garbage a flush leaves is mostly the SDK's per-request objects; with Go's
// default 100 that garbage grew the heap to twice the live data before a
// collection, with 25 a quarter more, at about one collection per 96 MB
// chunk (BenchmarkFlushLargeChunk).
const GCPercent = 25

// Output is one configured secops_s3 instance. Flush may be called from
// several goroutines (Fluent Bit workers) at once.
type Output struct {
	cfg    Config
	api    objectAPI
	spec   objectSpec
	enc    *ndjsonEncoder
	log    flb.Logger
	target target // what fixes in log lines refer to
	limit  *logLimiter
	stats  statsBox
	m      metrics.Sink
	// secrets of the credentials checked at start, for log scrubbing
	secrets []string

	ctx    context.Context // cancelled by Close: aborts in-flight uploads
	cancel context.CancelFunc
	blocks *blockPool // buffers of compressed data, shared by flushes
}

// New builds the S3 client from cfg and the default credential chain, checks
// the credentials and the bucket, and returns a ready output. Its errors say
// what to fix and never contain a secret.
func New(ctx context.Context, cfg Config, log flb.Logger) (*Output, error) {
	awsCfg, err := loadConfig(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	creds, err := awsCfg.Credentials.Retrieve(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("%s: no AWS credentials within %s: the instance, pod or STS role that provides them did not answer (check role_arn, the instance metadata service and the network to STS): %w",
			PluginName, startupTimeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: no usable AWS credentials (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profile, role_arn, or run with an instance/pod role): %w", PluginName, err)
	}
	client := newS3Client(awsCfg, cfg)
	if err = checkBucket(ctx, client, cfg, awsCfg.Region, log); err != nil {
		return nil, err
	}
	o := newOutput(cfg, client, log)
	o.target = cfg.target(awsCfg.Region)
	for _, s := range []string{creds.SecretAccessKey, creds.SessionToken} {
		if s != "" {
			o.secrets = append(o.secrets, s)
		}
	}
	// Checksums are named on multipart uploads only where the SDK computes them.
	o.spec.checksums = cfg.Endpoint == ""
	// The credential source (environment, profile, role...) helps debugging
	// and is not secret; the keys themselves are never logged.
	log.Info("ready", "bucket", cfg.Bucket, "where", where(cfg, awsCfg.Region), "key_format", cfg.KeyFormat.String(),
		"prefix", cfg.Prefix, "credentials", creds.Source)
	return o, nil
}

// newOutput wires an output around any objectAPI (tests use fakes).
func newOutput(cfg Config, api objectAPI, log flb.Logger) *Output {
	ctx, cancel := context.WithCancel(context.Background())
	return &Output{
		cfg: cfg,
		api: api,
		spec: objectSpec{
			bucket:          cfg.Bucket,
			contentEncoding: cfg.ContentEncoding,
			sse:             cfg.SSE,
			kmsKeyID:        cfg.SSEKMSKeyID,
			storageClass:    cfg.StorageClass,
			threshold:       int(cfg.MultipartThreshold),
			partSize:        int(cfg.PartSize),
		},
		// One flush holds at most threshold + part size, and one more
		// block per part for the rounding.
		blocks: newBlockPool(int(cfg.MultipartThreshold+cfg.PartSize)/blockSize + 2*maxInFlight + 2),
		enc:    newNDJSONEncoder(cfg.CompressionLevel, cfg.JSONDateKey, cfg.JSONDateFormat),
		log:    log,
		target: cfg.target(cmp.Or(cfg.Region, fallbackRegion)),
		limit:  newLogLimiter(logEvery, time.Now),
		ctx:    ctx,
		cancel: cancel,
	}
}

// Close cancels uploads still running; later flushes return StatusRetry.
func (o *Output) Close() {
	o.cancel()
	o.blocks.drop()
}

// ContentHash identifies a chunk: 16 hex digits of SHA-256 over the tag, a
// zero byte and the chunk bytes. Fluent Bit hands a retried chunk over with
// the same bytes, so a retry gets the same key.
func ContentHash(tag string, chunk []byte) string {
	h := sha256.New()
	h.Write([]byte(tag))
	h.Write([]byte{0})
	h.Write(chunk)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Report describes one flush.
type Report struct {
	Status        Status
	Key           string // object key ("" when the chunk had no records)
	Records       int    // records in the chunk
	Skipped       int    // records of the chunk that could not be written (counted in Records)
	NDJSONBytes   int64
	StoredBytes   int64 // compressed bytes sent
	Parts         int   // multipart parts; 0 for a single PutObject
	MaxBuffered   int   // peak compressed bytes held in memory
	AlreadyStored bool  // the key existed (412): an earlier attempt stored it
	firstSkip     string
	Stored        int    // with a damaged chunk (ERROR): the records before the damage, which were stored
	Err           error  // why, when Status is not OK
	Cause         string // with Err: one of RetryCauses or ErrorCauses
}

// Stats returns the output's counters so far.
func (o *Output) Stats() Stats { return o.stats.snapshot() }

// Flush stores one chunk and reports the outcome; it also logs it. The chunk
// is only read during the call.
func (o *Output) Flush(ctx context.Context, chunk []byte, tag string) Report {
	start := time.Now()
	r, d := o.flush(ctx, chunk, tag)
	took := time.Since(start)
	o.stats.add(r, took)
	o.observe(r, took)
	if r.Skipped > 0 {
		o.logLimited(o.log.Error, "record-skipped", "records skipped: not a map of fields, so not an audit row the feed could parse; the chunk's other records are stored",
			"tag", tag, "skipped", r.Skipped, "records", r.Records, "first", r.firstSkip)
	}
	switch {
	case r.Status == StatusOK && r.AlreadyStored:
		o.log.Info("object already stored by an earlier attempt of this chunk; not written again", "key", r.Key, "records", r.Records)
	case r.Status == StatusOK && r.Key == "":
		o.log.Debug("chunk has no records to store; nothing stored", "tag", tag)
	case r.Status == StatusOK:
		o.log.Debug("stored", "key", r.Key, "records", r.Records, "ndjson_bytes", r.NDJSONBytes, "gzip_bytes", r.StoredBytes, "parts", r.Parts)
	case r.Status == StatusRetry && d.Operator:
		o.logLimited(o.log.Error, r.Cause, "cannot store the chunk until this is fixed; Fluent Bit will retry it: "+d.Fix(o.target),
			"key", r.Key, "records", r.Records, "cause", r.Cause, "error", r.Err)
	case r.Status == StatusRetry:
		o.logLimited(o.log.Warn, r.Cause, "upload failed; Fluent Bit will retry the chunk",
			"key", r.Key, "records", r.Records, "cause", r.Cause, "error", r.Err)
	default:
		o.log.Error("chunk dropped (permanent error)", "key", r.Key, "records_stored", r.Stored, "cause", r.Cause, "error", r.Err)
	}
	return r
}

// logLimited logs at most one line per key and minute, saying how many
// similar lines were held back since the last one.
func (o *Output) logLimited(logf func(string, ...any), key, msg string, kv ...any) {
	ok, held := o.limit.allow(key)
	if !ok {
		return
	}
	if held > 0 {
		kv = append(kv, "similar_lines_not_logged", held)
	}
	logf(msg, kv...)
}

func (o *Output) flush(ctx context.Context, chunk []byte, tag string) (r Report, d Diagnosis) {
	// Derived from the output's context so that Close cancels at once; the
	// caller's context can cancel too.
	fctx, cancel := context.WithTimeout(o.ctx, o.cfg.UploadTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	ctx = fctx

	hash := ContentHash(tag, chunk)
	var first time.Time
	key := func() string {
		r.Key = o.cfg.KeyFormat.Render(KeyVars{Prefix: o.cfg.Prefix, Tag: tag, Hash: hash, Time: first})
		return r.Key
	}
	w := newObjectWriter(ctx, o.api, &o.spec, key, o.blocks)
	st, err := o.enc.Encode(w, chunk, func(t time.Time) { first = t })
	r.Records, r.Skipped, r.firstSkip, r.NDJSONBytes = st.Records, st.Skipped, st.FirstSkip, st.NDJSONBytes
	if err == nil && st.Records > st.Skipped {
		err = w.Close()
	}
	r.StoredBytes, r.Parts, r.MaxBuffered = w.stored, len(w.parts), w.maxBuffered
	if aerr := w.Abort(); aerr != nil {
		o.log.Warn("could not abort the unfinished multipart upload; its parts stay until a lifecycle rule removes them", "error", aerr)
	}
	if st.Damaged != nil && (err == nil || errors.Is(err, errAlreadyStored)) {
		// What could be read is stored (or there was none); the rest of the
		// chunk is not msgpack, and no retry can change that.
		r.Stored = st.Records - st.Skipped
		err = fmt.Errorf("%w (the %d records before it were stored)", st.Damaged, r.Stored)
	}
	d = Diagnose(err)
	r.Status = d.Status
	r.AlreadyStored = errors.Is(err, errAlreadyStored)
	if r.Status != StatusOK {
		r.Err, r.Cause = err, d.Cause
		return r, d // the blocks may still be read by a cancelled request: not reused
	}
	if err == nil {
		// Stored: every request has read its body. (A 412 may answer
		// before the body was read, so those blocks are left to the GC.)
		w.release()
	}
	return r, d
}
