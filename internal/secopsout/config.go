// Package secopsout is the logic of the secops_s3 Fluent Bit output: it turns each
// chunk of records into one gzip-compressed NDJSON object on S3, written with
// a deterministic key and a create-only condition so that a retried chunk is
// never stored twice. It has no cgo; plugin/out_secops_s3 is the thin layer
// that Fluent Bit loads.
package secopsout

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
)

// PluginName is the name the output registers under in Fluent Bit.
const PluginName = "secops_s3"

// Defaults for the optional keys.
const (
	DefaultPrefix             = "digicert/logs"
	DefaultKeyFormat          = "${prefix}/%Y/%m/%d/%H%M%S-digicert-audit-${hash}.json.gz"
	DefaultCompressionLevel   = 1 // meets ≥150 MB/s of NDJSON per core; see docs/benchmarks.md
	DefaultUploadTimeout      = 2 * time.Minute
	DefaultMultipartThreshold = 5 << 20
	DefaultPartSize           = 5 << 20
	// MinPartSize is S3's minimum size of every part but the last.
	MinPartSize = 5 << 20
	// maxPartSize is S3's maximum part size.
	maxPartSize = 5 << 30
)

// Date formats accepted by json_date_format.
const (
	DateISO8601 = "iso8601"
	DateEpoch   = "epoch"
	DateEpochMS = "epoch_ms"
)

// Config is the validated configuration of one output instance.
type Config struct {
	Bucket             string        // required
	Region             string        // "" → SDK default chain, then us-east-1
	Prefix             string        // no leading or trailing slash
	KeyFormat          *KeyTemplate  // parsed key_format
	Endpoint           string        // "" → AWS
	UsePathStyle       bool          // default: on with a custom endpoint
	CompressionLevel   int           // gzip level 1..9
	ContentEncoding    bool          // send Content-Encoding: gzip
	JSONDateKey        string        // "" → no date member added
	JSONDateFormat     string        // DateISO8601, DateEpoch or DateEpochMS
	SSE                string        // "", AES256, aws:kms or aws:kms:dsse
	SSEKMSKeyID        string        // with SSE aws:kms / aws:kms:dsse only
	StorageClass       string        // "" → bucket default
	RoleARN            string        // assumed through STS when set
	ExternalID         string        // with RoleARN only
	Profile            string        // shared config profile
	UploadTimeout      time.Duration // deadline for one flush's upload
	MultipartThreshold int64         // compressed bytes above which multipart is used
	PartSize           int64         // multipart part size
}

// Config keys, exactly as users write them.
const (
	keyBucket             = "bucket"
	keyRegion             = "region"
	keyPrefix             = "prefix"
	keyKeyFormat          = "key_format"
	keyEndpoint           = "endpoint"
	keyUsePathStyle       = "use_path_style"
	keyCompressionLevel   = "compression_level"
	keyContentEncoding    = "content_encoding"
	keyJSONDateKey        = "json_date_key"
	keyJSONDateFormat     = "json_date_format"
	keySSE                = "sse"
	keySSEKMSKeyID        = "sse_kms_key_id"
	keyStorageClass       = "storage_class"
	keyRoleARN            = "role_arn"
	keyExternalID         = "external_id"
	keyProfile            = "profile"
	keyUploadTimeout      = "upload_timeout"
	keyMultipartThreshold = "multipart_threshold"
	keyPartSize           = "multipart_part_size"
)

// Keys returns every configuration key the output accepts, in documentation order.
func Keys() []string {
	return []string{
		keyBucket, keyRegion, keyPrefix, keyKeyFormat, keyEndpoint, keyUsePathStyle,
		keyCompressionLevel, keyContentEncoding, keyJSONDateKey, keyJSONDateFormat,
		keySSE, keySSEKMSKeyID, keyStorageClass, keyRoleARN, keyExternalID, keyProfile,
		keyUploadTimeout, keyMultipartThreshold, keyPartSize,
	}
}

// configError names the plugin and the key, as every config error must.
func configError(err error) error { return fmt.Errorf("%s: %w", PluginName, err) }

// LoadConfig reads and validates the configuration. Errors name the key.
func LoadConfig(g flb.ConfigGetter) (Config, error) {
	get := func(k string) string { return strings.TrimSpace(g.Get(k)) }
	c := Config{
		Bucket:      get(keyBucket),
		Region:      get(keyRegion),
		Endpoint:    get(keyEndpoint),
		SSEKMSKeyID: get(keySSEKMSKeyID),
		RoleARN:     get(keyRoleARN),
		ExternalID:  get(keyExternalID),
		Profile:     get(keyProfile),
	}
	if c.Bucket == "" {
		return c, configError(fmt.Errorf("%s: required (the S3 bucket the SecOps feed reads)", keyBucket))
	}
	if strings.ContainsAny(c.Bucket, "/ ") {
		return c, configError(fmt.Errorf("%s: %q is not a bucket name (give the prefix in %s, not in the bucket)", keyBucket, c.Bucket, keyPrefix))
	}
	var err error
	if c.Prefix, err = parsePrefix(g.Get(keyPrefix)); err != nil {
		return c, configError(err)
	}
	format := get(keyKeyFormat)
	if format == "" {
		format = DefaultKeyFormat
	}
	if c.KeyFormat, err = ParseKeyTemplate(format); err != nil {
		return c, configError(fmt.Errorf("%s: %w", keyKeyFormat, err))
	}
	if err = checkKeyUnderPrefix(c.KeyFormat, c.Prefix); err != nil {
		return c, configError(err)
	}
	if c.Endpoint != "" && !strings.HasPrefix(c.Endpoint, "http://") && !strings.HasPrefix(c.Endpoint, "https://") {
		return c, configError(fmt.Errorf("%s: %q must start with http:// or https://", keyEndpoint, c.Endpoint))
	}
	if c.UsePathStyle, err = flb.ParseBool(keyUsePathStyle, g.Get(keyUsePathStyle), c.Endpoint != ""); err != nil {
		return c, configError(err)
	}
	if c.CompressionLevel, err = parseLevel(get(keyCompressionLevel)); err != nil {
		return c, configError(err)
	}
	if c.ContentEncoding, err = flb.ParseBool(keyContentEncoding, g.Get(keyContentEncoding), true); err != nil {
		return c, configError(err)
	}
	if err = c.loadDate(get(keyJSONDateKey), get(keyJSONDateFormat)); err != nil {
		return c, configError(err)
	}
	if err = c.loadStorage(get(keySSE), get(keyStorageClass)); err != nil {
		return c, configError(err)
	}
	if c.ExternalID != "" && c.RoleARN == "" {
		return c, configError(fmt.Errorf("%s: set only together with %s", keyExternalID, keyRoleARN))
	}
	if c.RoleARN != "" && !strings.HasPrefix(c.RoleARN, "arn:") {
		return c, configError(fmt.Errorf("%s: %q is not an ARN (arn:aws:iam::<account>:role/<name>)", keyRoleARN, c.RoleARN))
	}
	if c.UploadTimeout, err = flb.ParseDuration(keyUploadTimeout, g.Get(keyUploadTimeout), DefaultUploadTimeout); err != nil {
		return c, configError(err)
	}
	if c.UploadTimeout < time.Second {
		return c, configError(fmt.Errorf("%s: %v is too short (at least 1s)", keyUploadTimeout, c.UploadTimeout))
	}
	if err = c.loadSizes(g.Get(keyMultipartThreshold), g.Get(keyPartSize)); err != nil {
		return c, configError(err)
	}
	return c, nil
}

func parsePrefix(v string) (string, error) {
	p := strings.TrimSpace(v)
	if p == "" {
		// An explicitly empty prefix is indistinguishable from unset in
		// Fluent Bit; "/" is the way to ask for keys at the bucket root.
		return DefaultPrefix, nil
	}
	p = strings.Trim(p, "/")
	if strings.Contains(p, "//") {
		return "", fmt.Errorf("%s: %q contains an empty path segment", keyPrefix, v)
	}
	if hasDotSegment(p) {
		return "", fmt.Errorf("%s: %q contains a . or .. path segment; S3 keeps it literally, but tools and S3-compatible servers with file-system backends may not, so objects could land outside the feed's folder", keyPrefix, v)
	}
	return p, nil
}

func hasDotSegment(key string) bool {
	for _, seg := range strings.Split(key, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// checkKeyUnderPrefix renders the template with sample values: every key
// must lie under the prefix, where the feed reads and the writer policy
// allows writing, and have no . or .. segment.
func checkKeyUnderPrefix(t *KeyTemplate, prefix string) error {
	key := t.Render(KeyVars{Prefix: prefix, Tag: "tag", Hash: "0123456789abcdef", Time: time.Date(2025, 2, 6, 10, 28, 4, 0, time.UTC)})
	if prefix != "" && !strings.HasPrefix(key, prefix+"/") {
		return fmt.Errorf("%s: %q gives keys like %q, which are not under prefix %q: the feed reads only that folder and the writer policy allows writing only there; start it with ${prefix}/", keyKeyFormat, t, key, prefix)
	}
	if hasDotSegment(key) {
		return fmt.Errorf("%s: %q gives keys like %q, with a . or .. path segment", keyKeyFormat, t, key)
	}
	return nil
}

func parseLevel(v string) (int, error) {
	if v == "" {
		return DefaultCompressionLevel, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 9 {
		return 0, fmt.Errorf("%s: %q must be a gzip level from 1 (fastest) to 9 (smallest)", keyCompressionLevel, v)
	}
	return n, nil
}

func (c *Config) loadDate(key, format string) error {
	switch strings.ToLower(key) {
	case "", "off", "false", "no", "0":
		c.JSONDateKey = ""
	case "on", "true", "yes", "1":
		c.JSONDateKey = "date" // Fluent Bit's own default name
	default:
		c.JSONDateKey = key
	}
	switch f := strings.ToLower(format); f {
	case "":
		c.JSONDateFormat = DateISO8601
	case DateISO8601, DateEpoch, DateEpochMS:
		c.JSONDateFormat = f
	default:
		return fmt.Errorf("%s: %q is not one of %s, %s, %s", keyJSONDateFormat, format, DateISO8601, DateEpoch, DateEpochMS)
	}
	return nil
}

func (c *Config) loadStorage(sse, class string) error {
	switch strings.ToLower(sse) {
	case "":
	case "aes256":
		c.SSE = string(types.ServerSideEncryptionAes256)
	case "aws:kms":
		c.SSE = string(types.ServerSideEncryptionAwsKms)
	case "aws:kms:dsse":
		c.SSE = string(types.ServerSideEncryptionAwsKmsDsse)
	default:
		return fmt.Errorf("%s: %q is not one of AES256, aws:kms, aws:kms:dsse", keySSE, sse)
	}
	if c.SSEKMSKeyID != "" && !strings.HasPrefix(c.SSE, "aws:kms") {
		return fmt.Errorf("%s: needs %s aws:kms (or aws:kms:dsse)", keySSEKMSKeyID, keySSE)
	}
	if class != "" {
		up := strings.ToUpper(class)
		var known []string
		for _, v := range types.StorageClass("").Values() {
			known = append(known, string(v))
		}
		if !slices.Contains(known, up) {
			return fmt.Errorf("%s: %q is not an S3 storage class (%s)", keyStorageClass, class, strings.Join(known, ", "))
		}
		c.StorageClass = up
	}
	return nil
}

func (c *Config) loadSizes(threshold, part string) error {
	var err error
	if c.PartSize, err = flb.ParseSize(keyPartSize, part, DefaultPartSize); err != nil {
		return err
	}
	if c.PartSize < MinPartSize || c.PartSize > maxPartSize {
		return fmt.Errorf("%s: %d bytes is outside S3's part size limits (%d to %d; note 5M is 5,000,000 bytes, use 5MiB or more)", keyPartSize, c.PartSize, MinPartSize, int64(maxPartSize))
	}
	if c.MultipartThreshold, err = flb.ParseSize(keyMultipartThreshold, threshold, max(DefaultMultipartThreshold, c.PartSize)); err != nil {
		return err
	}
	if c.MultipartThreshold < c.PartSize {
		return fmt.Errorf("%s: %d bytes is below %s (%d); the threshold must be at least one part", keyMultipartThreshold, c.MultipartThreshold, keyPartSize, c.PartSize)
	}
	return nil
}
