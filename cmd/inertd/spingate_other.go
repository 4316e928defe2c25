//go:build !linux

package main

import "time"

// spinGate is Linux's CPU-pressure gate on the spin; elsewhere it is
// always open.
type spinGate struct{}

func newSpinGate() *spinGate          { return &spinGate{} }
func (*spinGate) open(time.Time) bool { return true }
func (*spinGate) close()              {}
