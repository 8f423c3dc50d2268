module github.com/govmm/govmm

go 1.26.0

require (
	github.com/bobuhiro11/gokvm v0.0.8-0.20231003020000-f53faca69d28
	github.com/google/go-cmp v0.7.0
	golang.org/x/sys v0.49.0
)
