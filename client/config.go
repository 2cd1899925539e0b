package client

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Session is what a login is for: an [sso-session] of ~/.aws/config, or a
// legacy start URL without a session name.
type Session struct {
	// Name is the sso-session name; empty for a legacy login, whose token
	// is cached under the start URL and cannot be refreshed by the AWS CLI.
	Name     string
	StartURL string
	// Region is sso_region, the region of IAM Identity Center.
	Region string
	// Scopes is sso_registration_scopes; nil when not set.
	Scopes []string
}

func (s Session) cacheKey() string {
	if s.Name != "" {
		return s.Name
	}
	return s.StartURL
}

// String names the session for messages.
func (s Session) String() string {
	if s.Name != "" {
		return fmt.Sprintf("sso-session %q", s.Name)
	}
	return s.StartURL
}

// ConfigFile is the AWS shared config file: $AWS_CONFIG_FILE, else
// ~/.aws/config.
func ConfigFile() (string, error) {
	if f := os.Getenv("AWS_CONFIG_FILE"); f != "" {
		return f, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".aws", "config"), nil
}

// ErrNoSession is returned when the config file has no such sso-session.
var ErrNoSession = errors.New("no such sso-session")

// LoadSession reads [sso-session name] from the config file at path.
func LoadSession(path, name string) (Session, error) {
	sections, err := readINI(path)
	if err != nil {
		return Session{}, err
	}
	sec, ok := sections["sso-session "+name]
	if !ok {
		return Session{}, fmt.Errorf("%s: %w %q", path, ErrNoSession, name)
	}
	s := Session{Name: name, StartURL: sec["sso_start_url"], Region: sec["sso_region"]}
	if v, ok := sec["sso_registration_scopes"]; ok {
		s.Scopes = parseScopes(v)
	}
	return s, nil
}

// SessionNames lists the [sso-session] sections of the config file at
// path, sorted; none when the file does not exist.
func SessionNames(path string) ([]string, error) {
	sections, err := readINI(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for k := range sections {
		if n, ok := strings.CutPrefix(k, "sso-session "); ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}

// parseScopes splits sso_registration_scopes as the AWS CLI does:
// comma-separated, trimmed, empties dropped.
func parseScopes(v string) []string {
	scopes := []string{}
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			scopes = append(scopes, s)
		}
	}
	return scopes
}

// readINI reads an AWS config file: [section] headers, key = value lines,
// # and ; comments (also after a value, when preceded by a space), and
// indented sub-properties (as under services), which are skipped.
func readINI(path string) (map[string]map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sections := map[string]map[string]string{}
	var cur map[string]string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		raw := sc.Text()
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			end := strings.IndexByte(line, ']')
			if end < 0 {
				return nil, fmt.Errorf("%s:%d: unterminated section header", path, n)
			}
			name := strings.Join(strings.Fields(line[1:end]), " ")
			if cur = sections[name]; cur == nil {
				cur = map[string]string{}
				sections[name] = cur
			}
			continue
		}
		if raw[0] == ' ' || raw[0] == '\t' || cur == nil {
			continue // a sub-property, or a key outside any section
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		for _, c := range []string{" #", " ;", "\t#", "\t;"} {
			if i := strings.Index(v, c); i >= 0 {
				v = v[:i]
			}
		}
		cur[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return sections, sc.Err()
}
