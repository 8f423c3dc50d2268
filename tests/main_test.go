package tests

import (
	"os"
	"testing"

	"github.com/govmm/govmm/tests/testhost"
)

func TestMain(m *testing.M) { os.Exit(testhost.Main(m)) }
