//go:build !linux

package main

import "runtime"

// yieldCPU lets other goroutines run; elsewhere the spin does not yield
// the OS thread.
func yieldCPU() { runtime.Gosched() }
