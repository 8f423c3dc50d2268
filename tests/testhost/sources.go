package testhost

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// DebianURI returns the archive URI of the first enabled, non-security
// binary ("deb") entry of an apt sources file, in either format apt reads:
//
//   - deb822 (.sources, sources.list(5) "DEB822-STYLE FORMAT"): stanzas
//     separated by blank lines with Types, URIs, Suites and Enabled fields;
//     continuation lines start with white space, comments with '#'.
//   - one-line (.list, "ONE-LINE-STYLE FORMAT"): "deb [options] URI suite
//     component...".
//
// An entry counts as a security one when one of its suites or its URI
// contains "security"; those mirrors carry no trixie main. Only entries
// whose (first) suite is a Debian one count (debianSuite: bookworm, trixie,
// stable, sid, ... optionally with -updates or -backports), so that a
// third-party repository listed first is not taken for the archive. The format is
// recognised per file: a line starting with "deb " or "deb\t" makes it
// one-line. It fails when no entry qualifies.
func DebianURI(sources []byte) (string, error) {
	var uri string
	if isOneLine(sources) {
		uri = oneLineURI(sources)
	} else {
		uri = deb822URI(sources)
	}
	if uri == "" {
		return "", errors.New("testhost: no enabled non-security \"deb\" entry in the apt sources")
	}
	return uri, nil
}

func isOneLine(b []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "deb ") || strings.HasPrefix(l, "deb\t") {
			return true
		}
	}
	return false
}

// deb822URI implements DebianURI for the deb822 format.
func deb822URI(b []byte) string {
	var (
		fields = map[string]string{}
		last   string
		found  string
	)
	flush := func() {
		defer clear(fields)
		if found != "" {
			return
		}
		if !slicesContainsFold(strings.Fields(fields["types"]), "deb") {
			return
		}
		if strings.EqualFold(strings.TrimSpace(fields["enabled"]), "no") {
			return
		}
		uris := strings.Fields(fields["uris"])
		suites := strings.Fields(fields["suites"])
		if len(uris) == 0 || len(suites) == 0 || strings.Contains(fields["suites"], "security") ||
			!debianSuite.MatchString(suites[0]) {
			return
		}
		for _, u := range uris {
			if !strings.Contains(u, "security") && validURI(u) {
				found = u
				return
			}
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "":
			flush()
			last = ""
		case strings.HasPrefix(line, "#"):
		case line[0] == ' ' || line[0] == '\t':
			if last != "" {
				fields[last] += " " + strings.TrimSpace(line)
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				last = ""
				continue
			}
			last = strings.ToLower(strings.TrimSpace(k))
			fields[last] = strings.TrimSpace(v)
		}
	}
	flush()
	return found
}

// oneLineURI implements DebianURI for the one-line format.
func oneLineURI(b []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != "deb" {
			continue
		}
		i := 1
		if i < len(f) && strings.HasPrefix(f[i], "[") {
			// options: "[a=b c=d]" possibly split over several fields
			for i < len(f) && !strings.HasSuffix(f[i], "]") {
				i++
			}
			i++
		}
		if i+1 >= len(f) {
			continue
		}
		uri, suite := f[i], f[i+1]
		if strings.Contains(uri, "security") || strings.Contains(suite, "security") ||
			!debianSuite.MatchString(suite) || !validURI(uri) {
			continue
		}
		return uri
	}
	return ""
}

// debianSuite matches the suite names of the Debian archive.
var debianSuite = regexp.MustCompile(`^(buster|bullseye|bookworm|trixie|forky|duke|sid|stable|testing|unstable|oldstable|oldoldstable|experimental)(-updates|-backports|-proposed-updates|-backports-sloppy)?$`)

// validURI accepts what apt accepts as an archive URI and what can be
// written back into a one-line sources file: "scheme:" followed by
// printable characters, no white space and no brackets.
func validURI(u string) bool {
	scheme, rest, ok := strings.Cut(u, ":")
	if !ok || scheme == "" || rest == "" {
		return false
	}
	for _, r := range scheme {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.') {
			return false
		}
	}
	for _, r := range u {
		if r <= ' ' || r == 0x7f || r == '[' || r == ']' || r == '"' || r == '\'' {
			return false
		}
	}
	return true
}

func slicesContainsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// hostDebianURI reads the machine's apt sources: deb822 files in
// /etc/apt/sources.list.d (debian.sources first), then /etc/apt/sources.list
// and the .list files next to it.
func hostDebianURI(etc string) (string, error) {
	d := filepath.Join(etc, "sources.list.d")
	var files []string
	files = append(files, filepath.Join(d, "debian.sources"))
	more, _ := filepath.Glob(filepath.Join(d, "*.sources"))
	sort.Strings(more)
	files = append(files, more...)
	files = append(files, filepath.Join(etc, "sources.list"))
	lists, _ := filepath.Glob(filepath.Join(d, "*.list"))
	sort.Strings(lists)
	files = append(files, lists...)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if u, err := DebianURI(b); err == nil {
			return u, nil
		}
	}
	return "", errors.New("testhost: could not derive the Debian archive URI from " + etc +
		"/sources.list.d/*.sources or " + etc + "/sources.list (set " + EnvDebianURI + ")")
}
