package config

import (
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md")

const docPath = "../../docs/configuration.md"

// TestConfigurationDoc keeps docs/configuration.md equal to the Config
// struct, so the reference cannot drift.
func TestConfigurationDoc(t *testing.T) {
	want := Markdown()
	if *update {
		if err := os.WriteFile(docPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("%v (run: go test ./internal/config -run TestConfigurationDoc -update)", err)
	}
	if string(got) != want {
		t.Errorf("%s is out of date: run go test ./internal/config -run TestConfigurationDoc -update", docPath)
	}
}

func TestEveryKeyIsDocumented(t *testing.T) {
	c := Default()
	forEachField(&c, func(key string, _ reflect.Value, sf reflect.StructField) {
		if strings.TrimSpace(sf.Tag.Get("doc")) == "" {
			t.Errorf("key %s has no doc tag", key)
		}
	})
}
