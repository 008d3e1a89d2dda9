package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// An output that can never store anything stops real Fluent Bit at start,
// with an error line that names the fix: a bucket that does not exist and
// credentials the server rejects. Neither secret reaches the log.
func TestFluentBitS3OutUnusableBucketStopsAtStart(t *testing.T) {
	bin := dcFluentBit(t)
	so := s3outPlugin(t)
	s3env := s3outSetup(t)
	bucket := s3env.newBucket(t)
	const wrongSecret = "wrong-secret-key-0123456789abcdef"
	for _, c := range []struct {
		name, bucket, secret, want string
	}{
		{"missing bucket", "no-such-bucket-" + randomSuffix(), s3env.secretKey, `bucket "no-such-bucket-[0-9]+" does not exist at `},
		{"rejected credentials", bucket, wrongSecret, `the credentials were rejected \(SignatureDoesNotMatch\): check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			conf := filepath.Join(dir, "fluent-bit.yaml")
			body := "service:\n  flush: 1\n  grace: 1\npipeline:\n  inputs:\n    - name: dummy\n      tag: t\n" +
				"  outputs:\n    - name: secops_s3\n      match: '*'\n      workers: 1\n      bucket: " + c.bucket +
				"\n      endpoint: " + s3env.endpoint + "\n      region: us-east-1\n"
			if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Setenv("AWS_SECRET_ACCESS_KEY", c.secret)
			fb := dcStartFB(t, bin, "-e", so, "-c", conf)
			log := fb.mustFailStart(t, "an unusable bucket")
			if !regexp.MustCompile(`\[error\] \[out_secops_s3#1\] secops_s3: ` + c.want).MatchString(log) {
				t.Errorf("no error line matching %q:\n%s", c.want, log)
			}
			if strings.Contains(log, c.secret) {
				t.Error("the secret key was printed")
			}
		})
	}
}

func randomSuffix() string {
	return strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "")
}
