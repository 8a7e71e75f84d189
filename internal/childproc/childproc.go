// Package childproc starts the servers that tests run (PostgreSQL, Redis)
// so that they die with the test binary, even one that never stops them.
package childproc

import (
	"os/exec"
	"runtime"
	"syscall"
)

// Start starts cmd with sig as its parent-death signal: if this process
// dies without stopping it (a test timeout panics past TestMain), the
// kernel sends it sig. The kernel sends it when the thread that started
// the child exits, not the process, so cmd starts on a goroutine locked to
// its thread, which is kept until the child has exited. done is closed
// once cmd.Wait has returned. cmd.SysProcAttr, if set, is kept otherwise.
func Start(cmd *exec.Cmd, sig syscall.Signal) (done <-chan struct{}, err error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = sig
	exited := make(chan struct{})
	started := make(chan error)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return exited, nil
}
