package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/govmm/govmm/tests/testhost/internal/launch"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name   string
		script string
		exit   int
		serial string
		stderr string
		marker bool
	}{
		{"guest powers off", "echo 'Linux version'; echo INIT-MARK; echo bye", 0, "Linux version\nINIT-MARK\nbye\n", "", true},
		{"VMM error", "echo 'half a boot'; echo 'vmm: bad thing' >&2; exit 1", 1, "half a boot\n", "vmm: bad thing\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "l2-0")
			c := launch.Config{Argv: []string{"/bin/sh", "-c", tc.script}, Marker: "INIT-MARK", Timeout: time.Minute}
			if err := run(dir, c, false); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(dir, "report.json"))
			if err != nil {
				t.Fatal(err)
			}
			var rep launch.Report
			if err := json.Unmarshal(b, &rep); err != nil {
				t.Fatal(err)
			}
			if !rep.Started || rep.ExitCode != tc.exit || (rep.MarkerNS >= 0) != tc.marker || rep.Argv[2] != tc.script {
				t.Errorf("report %s", b)
			}
			for file, want := range map[string]string{"serial.log": tc.serial, "stderr.log": tc.stderr} {
				got, err := os.ReadFile(filepath.Join(dir, file))
				if err != nil || string(got) != want {
					t.Errorf("%s = %q, %v; want %q", file, got, err, want)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, ".report.json")); err == nil {
				t.Error("the temporary report was left behind")
			}
		})
	}
}
