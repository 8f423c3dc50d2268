package virtioconsole_test

import "runtime"

func yield() { runtime.Gosched() }
