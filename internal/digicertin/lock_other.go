//go:build !unix

package digicertin

import "os"

// lockFile is a no-op where flock is unavailable; Fluent Bit plugins are
// built for Linux, this only keeps the package compiling elsewhere.
func lockFile(*os.File) error { return nil }
