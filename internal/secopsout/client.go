package secopsout

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/logging"

	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
)

// fallbackRegion is used when neither region nor the SDK chain names one.
const fallbackRegion = "us-east-1"

// roleSessionName identifies this plugin in CloudTrail when role_arn is used.
const roleSessionName = "fluent-bit-secops-s3"

// loadAWSConfig builds the SDK configuration: credentials from the default
// chain (environment, shared profile, web identity, container or instance
// role), optionally exchanged for role_arn through STS. No *http.Client is
// passed: the SDK's own buildable client keeps AWS_CA_BUNDLE working.
func loadAWSConfig(ctx context.Context, c Config, log flb.Logger) (aws.Config, error) {
	// Real AWS gets the SDK's default integrity checks; S3-compatible servers
	// often reject the CRC32 headers and trailers, so there checksums are only
	// sent where the API requires them. Both are set explicitly because the
	// SDK's implicit default differs between config loaders.
	calc, valid := aws.RequestChecksumCalculationWhenSupported, aws.ResponseChecksumValidationWhenSupported
	if c.Endpoint != "" {
		calc, valid = aws.RequestChecksumCalculationWhenRequired, aws.ResponseChecksumValidationWhenRequired
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRequestChecksumCalculation(calc),
		config.WithResponseChecksumValidation(valid),
		config.WithLogger(sdkLogger{log}),
	}
	if c.Region != "" {
		opts = append(opts, config.WithRegion(c.Region))
	}
	if c.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(c.Profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		if c.Profile != "" {
			return cfg, fmt.Errorf("%s: loading AWS configuration for profile %q: %w", PluginName, c.Profile, err)
		}
		return cfg, fmt.Errorf("%s: loading AWS configuration: %w", PluginName, err)
	}
	if cfg.Region == "" {
		cfg.Region = fallbackRegion
	}
	if c.RoleARN != "" {
		provider := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), c.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = roleSessionName
			if c.ExternalID != "" {
				o.ExternalID = aws.String(c.ExternalID)
			}
		})
		cfg.Credentials = aws.NewCredentialsCache(provider)
	}
	return cfg, nil
}

// newS3Client returns the S3 client for c.
func newS3Client(cfg aws.Config, c Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
		o.UsePathStyle = c.UsePathStyle
		// We never read objects back; the warning about skipped multipart
		// checksum validation would only be noise.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
}

// sdkLogger routes the SDK's own log lines through Fluent Bit's log.
type sdkLogger struct{ log flb.Logger }

func (l sdkLogger) Logf(class logging.Classification, format string, v ...any) {
	msg := "aws sdk: " + fmt.Sprintf(format, v...)
	if class == logging.Warn {
		l.log.Warn(msg)
		return
	}
	l.log.Debug(msg)
}
