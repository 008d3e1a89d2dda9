package integration

// sigkillCases: filled in below.
func sigkillCases() []faultCase { return nil }
