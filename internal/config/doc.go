package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Markdown documents every key: docs/configuration.md is this text, and a
// test keeps the two equal.
func Markdown() string {
	var b strings.Builder
	b.WriteString(`# Configuration reference

<!-- Generated from internal/config; do not edit. Regenerate with:
     go test ./internal/config -run TestConfigurationDoc -update -->

ssooidc reads one YAML file (` + "`ssooidc serve --config FILE`" + `; unknown keys are
errors), then environment variables, then flags (` + "`--addr`, `--db`, `--issuer`, `--dev`" + `).
Every key can be set in the environment as ` + "`SSOOIDC_<KEY>`" + ` in upper case; lists
are comma-separated there. Durations are Go durations: ` + "`90s`, `15m`, `8h`" + `.
` + "`ssooidc config check FILE`" + ` reports every problem at once;
` + "`ssooidc config print`" + ` shows the effective configuration with secrets redacted.

| key | environment | default | meaning |
|---|---|---|---|
`)
	def := Default()
	forEachField(&def, func(key string, f reflect.Value, sf reflect.StructField) {
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", key, EnvName(key), defaultText(f), sf.Tag.Get("doc"))
	})
	return b.String()
}

func defaultText(f reflect.Value) string {
	switch v := f.Interface().(type) {
	case string:
		if v == "" {
			return "—"
		}
		return "`" + v + "`"
	case bool:
		return fmt.Sprintf("`%t`", v)
	case int:
		return fmt.Sprintf("`%d`", v)
	case Duration:
		return "`" + formatDuration(time.Duration(v)) + "`"
	case []string:
		if len(v) == 0 {
			return "—"
		}
		return "`" + strings.Join(v, ",") + "`"
	}
	return fmt.Sprint(f.Interface())
}

// formatDuration writes whole hours and minutes without the "0s" tail Go
// adds ("1h" rather than "1h0m0s").
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
