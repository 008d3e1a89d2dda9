package secopsout

import (
	"strconv"

	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
)

// KeyDocs documents every key of Keys(), in the same order, with the
// default README gives ("" for required keys and defaults that depend on
// other settings). Fluent Bit ≥ 5.1.1 validates the keys against it.
func KeyDocs() []flb.KeyDoc {
	return []flb.KeyDoc{
		kd(keyBucket, "", "the bucket the SecOps feed reads (required)"),
		kd(keyRegion, "", "AWS region of the bucket (default: SDK chain, then us-east-1)"),
		kd(keyPrefix, DefaultPrefix, "key prefix; must equal the feed's S3 URI prefix"),
		kd(keyKeyFormat, DefaultKeyFormat, "object key template; must contain ${hash}"),
		kd(keyEndpoint, "", "S3-compatible endpoint (default: AWS)"),
		kd(keyUsePathStyle, "", "path-style requests (default: on with endpoint)"),
		kd(keyCompressionLevel, strconv.Itoa(DefaultCompressionLevel), "gzip level 1 to 9"),
		kd(keyContentEncoding, "on", "send Content-Encoding: gzip"),
		kd(keyJSONDateKey, "off", "add the record time under this key"),
		kd(keyJSONDateFormat, "iso8601", "iso8601, epoch or epoch_ms"),
		kd(keySSE, "", "server-side encryption (default: the bucket's)"),
		kd(keySSEKMSKeyID, "", "KMS key for sse aws:kms"),
		kd(keyStorageClass, "", "storage class (default: the bucket's)"),
		kd(keyRoleARN, "", "assume this role through STS"),
		kd(keyExternalID, "", "external id for role_arn"),
		kd(keyProfile, "", "shared config/credentials profile"),
		kd(keyUploadTimeout, "2m", "deadline of one flush's upload"),
		kd(keyMultipartThreshold, mib(DefaultMultipartThreshold), "compressed size above which multipart is used"),
		kd(keyPartSize, mib(DefaultPartSize), "multipart part size (at least 5 MiB)"),
	}
}

func mib(n int) string { return strconv.Itoa(n>>20) + "MiB" }

func kd(name, def, desc string) flb.KeyDoc { return flb.KeyDoc{Name: name, Default: def, Desc: desc} }
