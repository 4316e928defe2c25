//go:build !linux

package main

// watchVM: no pidfd outside Linux; inertd exits on stdin EOF.
func watchVM(int) (fd int, note string, err error) { return -1, "", nil }
