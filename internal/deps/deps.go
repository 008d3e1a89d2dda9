package deps
import (
 _ "github.com/aws/aws-sdk-go-v2/config"
 _ "github.com/aws/aws-sdk-go-v2/service/s3"
 _ "github.com/aws/aws-sdk-go-v2/credentials"
 _ "github.com/aws/aws-sdk-go-v2/credentials/stscreds"
 _ "github.com/aws/aws-sdk-go-v2/service/sts"
 _ "github.com/aws/aws-sdk-go-v2/feature/s3/manager"
 _ "github.com/klauspost/compress/gzip"
 _ "gopkg.in/yaml.v3"
)
