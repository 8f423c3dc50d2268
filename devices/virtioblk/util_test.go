package virtioblk_test

import (
	"os"
	"runtime"
)

func yield() { runtime.Gosched() }

func writeFile(path string, n int) error { return os.WriteFile(path, make([]byte, n), 0o600) }
