package vmm

import (
	"time"
	"unsafe"
)

func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }

func afterMillis(ms int) <-chan time.Time { return time.After(time.Duration(ms) * time.Millisecond) }
