//go:build !linux

package main

// Capabilities are a Linux feature; elsewhere inertd runs with what it is
// given and binds as it is.

func dropPrivileges() (bindService bool, warn string, err error) { return false, "", nil }

func withBindService(fn func() error) error { return fn() }
