package secopsout

import (
	"strings"
	"testing"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
)

func TestLoadConfigDefaults(t *testing.T) {
	c, err := LoadConfig(flb.MapConfig{"bucket": "logs"})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Bucket", c.Bucket, "logs"},
		{"Prefix", c.Prefix, DefaultPrefix},
		{"KeyFormat", c.KeyFormat.String(), DefaultKeyFormat},
		{"UsePathStyle", c.UsePathStyle, false},
		{"CompressionLevel", c.CompressionLevel, DefaultCompressionLevel},
		{"ContentEncoding", c.ContentEncoding, true},
		{"JSONDateKey", c.JSONDateKey, ""},
		{"JSONDateFormat", c.JSONDateFormat, DateISO8601},
		{"SSE", c.SSE, ""},
		{"StorageClass", c.StorageClass, ""},
		{"UploadTimeout", c.UploadTimeout, DefaultUploadTimeout},
		{"MultipartThreshold", c.MultipartThreshold, int64(DefaultMultipartThreshold)},
		{"PartSize", c.PartSize, int64(DefaultPartSize)},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestLoadConfigAllKeys(t *testing.T) {
	g := flb.MapConfig{
		"Bucket": "b", "region": "eu-west-1", "prefix": "/secops/digicert/", "key_format": "${prefix}/${tag}/%Y%m%d/${hash}.json.gz",
		"endpoint": "http://127.0.0.1:7070", "use_path_style": "off", "compression_level": "9", "content_encoding": "off",
		"json_date_key": "ts", "json_date_format": "EPOCH_MS", "sse": "aws:kms", "sse_kms_key_id": "alias/logs",
		"storage_class": "standard_ia", "role_arn": "arn:aws:iam::123456789012:role/writer", "external_id": "x-1",
		"profile": "prod", "upload_timeout": "90s", "multipart_threshold": "64MiB", "multipart_part_size": "16MiB",
	}
	c, err := LoadConfig(g)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Bucket: "b", Region: "eu-west-1", Prefix: "secops/digicert", Endpoint: "http://127.0.0.1:7070",
		UsePathStyle: false, CompressionLevel: 9, ContentEncoding: false, JSONDateKey: "ts", JSONDateFormat: DateEpochMS,
		SSE: "aws:kms", SSEKMSKeyID: "alias/logs", StorageClass: "STANDARD_IA",
		RoleARN: "arn:aws:iam::123456789012:role/writer", ExternalID: "x-1", Profile: "prod",
		UploadTimeout: 90 * time.Second, MultipartThreshold: 64 << 20, PartSize: 16 << 20,
	}
	want.KeyFormat = c.KeyFormat
	if c != want {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
	if c.KeyFormat.String() != g["key_format"] {
		t.Errorf("key_format = %q", c.KeyFormat)
	}
	// Every key used above is one Keys() lists, and the other way round.
	if len(g) != len(Keys()) {
		t.Errorf("test sets %d keys, Keys() has %d", len(g), len(Keys()))
	}
	for _, k := range Keys() {
		if g.Get(k) == "" {
			t.Errorf("key %q from Keys() not covered", k)
		}
	}
}

func TestLoadConfigDerivedDefaults(t *testing.T) {
	c, err := LoadConfig(flb.MapConfig{"bucket": "b", "endpoint": "https://s3.example.net", "json_date_key": "on", "multipart_part_size": "32MiB"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.UsePathStyle {
		t.Error("use_path_style should default on with a custom endpoint")
	}
	if c.JSONDateKey != "date" {
		t.Errorf("json_date_key on → %q, want date", c.JSONDateKey)
	}
	if c.MultipartThreshold != 32<<20 {
		t.Errorf("threshold = %d, want the part size when that is larger than the default", c.MultipartThreshold)
	}
	c, err = LoadConfig(flb.MapConfig{"bucket": "b", "prefix": "/"})
	if err != nil || c.Prefix != "" {
		t.Errorf("prefix / → %q, %v; want the bucket root", c.Prefix, err)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	cases := []struct {
		set  flb.MapConfig
		want string
	}{
		{flb.MapConfig{}, "bucket: required"},
		{flb.MapConfig{"bucket": "b/logs"}, "bucket: \"b/logs\" is not a bucket name"},
		{flb.MapConfig{"prefix": "a//b"}, "prefix:"},
		{flb.MapConfig{"prefix": "digicert/../logs"}, `prefix: "digicert/../logs" contains a . or .. path segment`},
		{flb.MapConfig{"prefix": "../other"}, "contains a . or .. path segment"},
		{flb.MapConfig{"prefix": "logs/."}, "contains a . or .. path segment"},
		{flb.MapConfig{"key_format": "logs/${hash}.json.gz"}, `key_format: "logs/${hash}.json.gz" gives keys like "logs/0123456789abcdef.json.gz", which are not under prefix "digicert/logs"`},
		{flb.MapConfig{"key_format": "${prefix}${hash}.json.gz"}, "which are not under prefix"},
		{flb.MapConfig{"key_format": "${prefix}/../${hash}.json.gz"}, "with a . or .. path segment"},
		{flb.MapConfig{"key_format": "%Y/x.json.gz"}, "key_format: \"%Y/x.json.gz\" must contain ${hash}"},
		{flb.MapConfig{"key_format": "${hash}/%Q"}, "key_format: \"${hash}/%Q\": %Q is not supported"},
		{flb.MapConfig{"key_format": "${hash}/${uuid}"}, "unknown placeholder ${uuid}"},
		{flb.MapConfig{"key_format": "${hash}/${tag"}, "unclosed ${"},
		{flb.MapConfig{"key_format": "${hash}%"}, "lone %"},
		{flb.MapConfig{"endpoint": "s3.local:7070"}, "endpoint: \"s3.local:7070\" must start with http:// or https://"},
		{flb.MapConfig{"use_path_style": "maybe"}, "use_path_style:"},
		{flb.MapConfig{"compression_level": "0"}, "compression_level: \"0\" must be a gzip level"},
		{flb.MapConfig{"compression_level": "fast"}, "compression_level:"},
		{flb.MapConfig{"content_encoding": "gzip"}, "content_encoding:"},
		{flb.MapConfig{"json_date_format": "rfc822"}, "json_date_format:"},
		{flb.MapConfig{"sse": "kms"}, "sse: \"kms\" is not one of"},
		{flb.MapConfig{"sse_kms_key_id": "k"}, "sse_kms_key_id: needs sse aws:kms"},
		{flb.MapConfig{"sse": "AES256", "sse_kms_key_id": "k"}, "sse_kms_key_id:"},
		{flb.MapConfig{"storage_class": "COLD"}, "storage_class: \"COLD\" is not an S3 storage class"},
		{flb.MapConfig{"external_id": "x"}, "external_id: set only together with role_arn"},
		{flb.MapConfig{"role_arn": "writer"}, "role_arn: \"writer\" is not an ARN"},
		{flb.MapConfig{"upload_timeout": "soon"}, "upload_timeout:"},
		{flb.MapConfig{"upload_timeout": "100ms"}, "upload_timeout: 100ms is too short"},
		{flb.MapConfig{"multipart_part_size": "5M"}, "multipart_part_size: 5000000 bytes is outside S3's part size limits"},
		{flb.MapConfig{"multipart_part_size": "lots"}, "multipart_part_size:"},
		{flb.MapConfig{"multipart_threshold": "4MiB"}, "multipart_threshold: 4194304 bytes is below multipart_part_size"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			if _, ok := tc.set["bucket"]; !ok && len(tc.set) > 0 {
				tc.set["bucket"] = "b"
			}
			_, err := LoadConfig(tc.set)
			if err == nil {
				t.Fatalf("no error for %v", tc.set)
			}
			if !strings.HasPrefix(err.Error(), "secops_s3: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to start with secops_s3: and contain %q", err, tc.want)
			}
		})
	}
}

// The defaults KeyDocs names are what Fluent Bit's help shows: set
// explicitly, each must load as the built-in default.
func TestKeyDocsDefaultsLoadAsTheBuiltInDefaults(t *testing.T) {
	set := flb.MapConfig{"bucket": "b"}
	for _, d := range KeyDocs() {
		if d.Default != "" {
			set[d.Name] = d.Default
		}
	}
	got, err := LoadConfig(set)
	if err != nil {
		t.Fatal(err)
	}
	want, err := LoadConfig(flb.MapConfig{"bucket": "b"})
	if err != nil {
		t.Fatal(err)
	}
	if got.KeyFormat.String() != want.KeyFormat.String() {
		t.Errorf("key_format %q, want %q", got.KeyFormat, want.KeyFormat)
	}
	got.KeyFormat, want.KeyFormat = nil, nil
	if got != want {
		t.Errorf("config from the documented defaults:\n%+v\nwant the built-in defaults:\n%+v", got, want)
	}
}
