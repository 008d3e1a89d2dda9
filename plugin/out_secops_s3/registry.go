package main

import (
	"github.com/digicert-secops/fluent-bit-digicert/internal/flbplugin"
	"github.com/digicert-secops/fluent-bit-digicert/internal/secopsout"
)

// instance is one [OUTPUT] section.
type instance struct {
	out          *secopsout.Output
	log          *flbplugin.Logger
	closeMetrics func()
}

// stop closes the instance: uploads still running are cancelled.
func (inst *instance) stop() {
	inst.out.Close()
	inst.closeMetrics()
	inst.log.Debug("stopped")
	inst.log.Close()
}
