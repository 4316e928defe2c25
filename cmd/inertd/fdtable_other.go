//go:build !linux

package main

// presizeFDTable is a no-op where the kernel's fd table growth does not
// wait for an RCU grace period.
func presizeFDTable() error { return nil }
