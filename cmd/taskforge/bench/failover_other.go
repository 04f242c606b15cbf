//go:build !linux

package bench

import "syscall"

// childProcAttr: outside Linux there is no Pdeathsig, so the children of bench failover are
// stopped only by the bench's own defers.
func childProcAttr() *syscall.SysProcAttr { return nil }
