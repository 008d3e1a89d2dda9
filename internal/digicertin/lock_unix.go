//go:build unix

package digicertin

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive, non-blocking flock on f. flock locks belong to
// the open file, so a second input in the same process is refused too.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
