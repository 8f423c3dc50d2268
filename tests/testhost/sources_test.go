package testhost

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// machineSources is the deb822 debian.sources of a Debian bookworm image.
const machineSources = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`

func TestDebianURI(t *testing.T) {
	tests := []struct {
		name    string
		sources string
		want    string // "" = error
	}{
		{"deb822 debian.sources", machineSources, "http://deb.debian.org/debian"},
		{
			"deb822 security stanza first",
			"Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n\n" +
				"Types: deb\nURIs: https://mirror.example/debian\nSuites: bookworm\nComponents: main\n",
			"https://mirror.example/debian",
		},
		{
			"deb822 disabled stanza and deb-src only stanza skipped",
			"Types: deb\nURIs: http://old.example/debian\nSuites: bookworm\nEnabled: no\n\n" +
				"Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\n" +
				"types: deb deb-src\nuris: http://lower.example/debian\nsuites: bookworm\n",
			"http://lower.example/debian",
		},
		{
			"deb822 continuation lines and several URIs",
			"Types: deb\nURIs:\n http://a.example/debian\n http://b.example/debian\nSuites: trixie\nComponents: main\n",
			"http://a.example/debian",
		},
		{
			"deb822 third-party repository is not the archive",
			"Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\nComponents: main\n",
			"",
		},
		{
			"one-line with options",
			"# comment\ndeb-src http://src.example/debian bookworm main\n" +
				"deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://ftp.example/debian bookworm main contrib\n",
			"http://ftp.example/debian",
		},
		{
			"one-line security first",
			"deb http://security.debian.org/debian-security bookworm-security main\ndeb mirror+file:/etc/apt/mirrors.txt bookworm main\n",
			"mirror+file:/etc/apt/mirrors.txt",
		},
		{"one-line truncated entry", "deb [arch=amd64] http://x.example/debian\n", ""},
		{"one-line unterminated options", "deb [arch=amd64 http://x.example/debian bookworm main\n", ""},
		{"empty", "", ""},
		{"only comments", "# Types: deb\n# URIs: http://x.example/debian\n", ""},
		{"URI with a quote is refused", "Types: deb\nURIs: http://x.example/deb'ian\nSuites: bookworm\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DebianURI([]byte(tc.sources))
			if tc.want == "" {
				if err == nil {
					t.Fatalf("DebianURI = %q, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("DebianURI = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestHostDebianURI(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string // relative to etc/apt
		want  string
	}{
		{"debian.sources wins", map[string]string{
			"sources.list.d/a.sources":      "Types: deb\nURIs: http://a.example/debian\nSuites: bookworm\n",
			"sources.list.d/debian.sources": machineSources,
		}, "http://deb.debian.org/debian"},
		{"other .sources", map[string]string{
			"sources.list.d/nodesource.sources": "Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\n",
			"sources.list.d/z-mirror.sources":   "Types: deb\nURIs: http://z.example/debian\nSuites: bookworm\n",
		}, "http://z.example/debian"},
		{"sources.list", map[string]string{
			"sources.list": "deb http://l.example/debian bookworm main\n",
		}, "http://l.example/debian"},
		{".list in sources.list.d", map[string]string{
			"sources.list.d/extra.list": "deb http://e.example/debian trixie main\n",
		}, "http://e.example/debian"},
		{"nothing", map[string]string{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			etc := t.TempDir()
			for name, text := range tc.files {
				p := filepath.Join(etc, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := hostDebianURI(etc)
			if tc.want == "" {
				if err == nil || !strings.Contains(err.Error(), EnvDebianURI) {
					t.Fatalf("hostDebianURI = %q, %v; want an error naming %s", got, err, EnvDebianURI)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("hostDebianURI = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// FuzzDebianURI: whatever the sources text, DebianURI does not panic, and
// a URI it returns is one that occurs in the text and can be written into
// a one-line sources file.
func FuzzDebianURI(f *testing.F) {
	f.Add([]byte(machineSources))
	f.Add([]byte("deb [arch=amd64] http://x.example/debian bookworm main\n"))
	f.Add([]byte("Types: deb\nURIs:\n http://a/debian\nSuites: trixie\n"))
	f.Add([]byte("deb [ ] ] [\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := DebianURI(b)
		if err != nil {
			return
		}
		if !validURI(u) || strings.ContainsAny(u, " \t\n[]") || !strings.Contains(string(b), u) {
			t.Fatalf("DebianURI returned %q", u)
		}
	})
}
