//go:build !linux

package main

// Capabilities are a Linux feature; elsewhere inertd runs with what it is
// given and binds as it is.

type privileges struct{ bindService, netAdmin, ptrace bool }

func dropPrivileges() (kept privileges, warn string, err error) { return privileges{}, "", nil }

func withBindService(fn func() error) error { return fn() }

func withNetAdmin(fn func() error) error { return fn() }

func withPtrace(fn func() error) error { return fn() }
