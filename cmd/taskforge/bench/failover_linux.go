package bench

import "syscall"

// childProcAttr puts a child of bench failover in a process group of its own (a Ctrl-C at the
// terminal reaches the bench, which stops its children itself) and has the kernel SIGKILL it if
// the bench dies without doing so (Pdeathsig: the bench SIGKILLed, or crashed past its defers).
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
