//go:build !linux

package main

import "github.com/inert-go/inert/driver"

// vmFiles has no way to look at the VM's fds here: no re-checks.
type vmFiles struct{}

func newVMFiles(int, bool, driver.Logger) *vmFiles { return &vmFiles{} }

func (*vmFiles) usable() bool { return false }

func (*vmFiles) pass(fn func()) { fn() }

func (*vmFiles) SameAsVM(int64, int) (bool, error) { return false, nil }
