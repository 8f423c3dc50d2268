// Package tests holds govmm's integration tests: real Linux guests booted
// by the govmm binary built from this module, inside the nested-KVM test
// host of package testhost (see its documentation for the why and how).
//
// The tests need root, network access to the Debian archive on their first
// run (about 170 MB into the cache) and a few minutes; -short skips them:
//
//	go test ./tests/                          # TestTestHostQEMUBoot, TestBoot
//	go test -run TestBoot -v ./tests/         # one test, with its log
//	make -C tests bootbench                   # govmm vs QEMU boot times (BenchmarkBootTime)
//
// Tests run one after another: each keeps one host CPU busy with TCG.
// A failing test keeps its work directory (serial logs, L1 log, the exact
// command lines) and logs its path.
package tests
