package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// binary is the ssooidc command built once for these tests: they run it as
// an operator would.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ssooidc-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "ssooidc")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building ssooidc: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs the binary in dir with stdin and a clean SSOOIDC_* environment.
func run(t *testing.T, dir, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return result{out.String(), errOut.String(), code}
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SSOOIDC_") {
			env = append(env, kv)
		}
	}
	return env
}

func TestUserCommands(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "users.db")
	ok := func(r result) result {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		return r
	}
	ok(run(t, dir, "a long passphrase\n", "user", "add", "alice", "--email", "alice@example.com", "--display-name", "Alice A", "--password-stdin", "--db", db))
	ok(run(t, dir, "another passphrase\n", "user", "add", "bob", "--password-stdin", "--db", db))

	r := run(t, dir, "x\n", "user", "add", "alice", "--password-stdin", "--db", db)
	if r.code == 0 {
		t.Error("adding a user twice succeeded")
	}
	r = run(t, dir, "", "user", "add", "carol", "--db", db)
	if r.code != 2 || !strings.Contains(r.stderr, "--password-stdin") {
		t.Errorf("add without --password-stdin: exit %d, stderr %q", r.code, r.stderr)
	}

	list := ok(run(t, dir, "", "user", "list", "--db", db)).stdout
	for _, want := range []string{"alice", "alice@example.com", "Alice A", "bob", "enabled"} {
		if !strings.Contains(list, want) {
			t.Errorf("user list lacks %q:\n%s", want, list)
		}
	}
	ok(run(t, dir, "", "user", "disable", "alice", "--db", db))
	if list := ok(run(t, dir, "", "user", "list", "--db", db)).stdout; !regexp.MustCompile(`alice .*disabled`).MatchString(list) {
		t.Errorf("alice not shown disabled:\n%s", list)
	}
	ok(run(t, dir, "", "user", "enable", "alice", "--db", db))
	ok(run(t, dir, "a new passphrase\n", "user", "passwd", "alice", "--password-stdin", "--db", db))
	ok(run(t, dir, "", "user", "delete", "bob", "--db", db))
	if list := ok(run(t, dir, "", "user", "list", "--db", db)).stdout; strings.Contains(list, "bob") {
		t.Errorf("bob still listed:\n%s", list)
	}
	if r := run(t, dir, "", "user", "delete", "nobody", "--db", db); r.code == 0 {
		t.Error("deleting an unknown user succeeded")
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// serveProcess is a running `ssooidc serve`.
type serveProcess struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *bytes.Buffer
}

func startServe(t *testing.T, dir string, env []string, args ...string) *serveProcess {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &serveProcess{cmd: cmd, lines: make(chan string, 100), stderr: &bytes.Buffer{}}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return s
}

// waitFor reads stdout until a line matches re, and returns its submatches.
func (s *serveProcess) waitFor(t *testing.T, re string) []string {
	t.Helper()
	return waitForLine(t, s.lines, re, func() string { return "server stderr:\n" + s.stderr.String() })
}

// waitForLine reads lines until one matches re and returns its
// submatches; it fails the test, showing context(), when the lines end or
// 30 s pass first.
func waitForLine(t *testing.T, lines <-chan string, re string, context func() string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("the command ended before printing %q; %s", re, context())
			}
			if m := rx.FindStringSubmatch(line); m != nil {
				return m
			}
		case <-timeout:
			t.Fatalf("no line matching %q; %s", re, context())
		}
	}
}

func (s *serveProcess) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.cmd.Wait(); err != nil {
		t.Errorf("server exit after SIGTERM: %v\nstderr:\n%s", err, s.stderr)
	}
}

func TestServeDev(t *testing.T) {
	dir := t.TempDir()
	addr := freePort(t)
	s := startServe(t, dir, nil, "--dev", "--addr", addr)
	m := s.waitFor(t, `Created the demo user "demo" with password (\S+)`)
	password := m[1]
	s.waitFor(t, `AWS_ENDPOINT_URL_SSO_OIDC=http://`+regexp.QuoteMeta(addr))

	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz = %d", resp.StatusCode)
	}
	if _, set := os.LookupEnv("GOGC"); !set {
		if got := servedGCPercent(t, addr); got != "50" {
			t.Errorf("the server's GOGC without the variable = %s, want 50", got)
		}
	}
	s.stop(t)
	if _, err := os.Stat(filepath.Join(dir, "ssooidc.db.key")); err != nil {
		t.Errorf("dev key file: %v", err)
	}
	if strings.Contains(s.stderr.String(), password) {
		t.Error("the demo password appears in the log")
	}

	// A second start on the same database reuses the demo user and says so.
	s = startServe(t, dir, nil, "--dev", "--addr", addr)
	s.waitFor(t, `Reusing the demo user "demo"`)
	s.stop(t)

	// The demo password works with the user commands' store too.
	if r := run(t, dir, "", "user", "list"); !strings.Contains(r.stdout, "demo") {
		t.Errorf("user list after --dev: %q %q", r.stdout, r.stderr)
	}
}

// servedGCPercent returns the collector's target as the server's /metrics show it.
func servedGCPercent(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go_gc_gogc_percent (\S+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no go_gc_gogc_percent in /metrics:\n%s", body)
	}
	return string(m[1])
}

func TestServeKeepsGOGC(t *testing.T) {
	dir := t.TempDir()
	addr := freePort(t)
	s := startServe(t, dir, []string{"GOGC=80"}, "--dev", "--addr", addr)
	s.waitFor(t, `AWS_ENDPOINT_URL_SSO_OIDC=http://`+regexp.QuoteMeta(addr))
	if got := servedGCPercent(t, addr); got != "80" {
		t.Errorf("the server's GOGC with GOGC=80 = %s", got)
	}
	s.stop(t)
}

func TestServeRefusesAnotherKey(t *testing.T) {
	dir := t.TempDir()
	key1 := strings.TrimSpace(run(t, dir, "", "keys", "generate").stdout)
	key2 := strings.TrimSpace(run(t, dir, "", "keys", "generate").stdout)
	if key1 == key2 || len(key1) < 43 {
		t.Fatalf("keys generate: %q %q", key1, key2)
	}
	addr := freePort(t)
	s := startServe(t, dir, []string{"SSOOIDC_SECRET_KEY=" + key1}, "--addr", addr)
	s.waitFor(t, `ssooidc is serving`)
	s.stop(t)

	r := runWithEnv(t, dir, []string{"SSOOIDC_SECRET_KEY=" + key2}, "serve", "--addr", addr)
	if r.code == 0 || !strings.Contains(r.stderr, "does not match") {
		t.Errorf("start with another key: exit %d, stderr %q", r.code, r.stderr)
	}
}

// A SQLite database is served by one process; the user commands still run
// beside it.
func TestServeRefusesASecondServer(t *testing.T) {
	dir := t.TempDir()
	key := strings.TrimSpace(run(t, dir, "", "keys", "generate").stdout)
	env := []string{"SSOOIDC_SECRET_KEY=" + key}
	s := startServe(t, dir, env, "--addr", freePort(t))
	s.waitFor(t, `ssooidc is serving`)

	r := runWithEnv(t, dir, env, "serve", "--addr", freePort(t))
	if r.code == 0 || !strings.Contains(r.stderr, "already served by another ssooidc process") {
		t.Errorf("second serve: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := runWithEnv(t, dir, env, "user", "list"); r.code != 0 {
		t.Errorf("user list beside the server: exit %d, stderr %q", r.code, r.stderr)
	}
	s.stop(t)
}

func TestServeWithoutKeyOutsideDev(t *testing.T) {
	r := run(t, t.TempDir(), "", "serve", "--addr", freePort(t))
	if r.code == 0 || !strings.Contains(r.stderr, "keys generate") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestConfigErrorsAreAllReported(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bad.yaml")
	os.WriteFile(cfg, []byte("addr: nope\nlog_level: loud\ndevice_poll_interval: 1500ms\n"), 0o600)
	r := run(t, dir, "", "serve", "--config", cfg, "--dev")
	for _, want := range []string{"addr:", "log_level:", "device_poll_interval:"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	os.WriteFile(cfg, []byte("adress: 127.0.0.1:1\n"), 0o600)
	if r := run(t, dir, "", "serve", "--config", cfg); r.code == 0 || !strings.Contains(r.stderr, "adress") {
		t.Errorf("unknown key: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestVersion(t *testing.T) {
	r := run(t, t.TempDir(), "", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "ssooidc ") || !strings.Contains(r.stdout, "go1.") {
		t.Errorf("version: %q", r.stdout)
	}
}

func runWithEnv(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	return result{out.String(), errOut.String(), code}
}

func TestBackup(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "live.db")
	copyPath := filepath.Join(dir, "copy.db")
	if r := run(t, dir, "a long passphrase\n", "user", "add", "alice", "--password-stdin", "--db", db); r.code != 0 {
		t.Fatalf("add: %s", r.stderr)
	}
	if r := run(t, dir, "", "backup", "--to", copyPath, "--db", db); r.code != 0 {
		t.Fatalf("backup: exit %d: %s", r.code, r.stderr)
	}
	if r := run(t, dir, "", "user", "list", "--db", copyPath); !strings.Contains(r.stdout, "alice") {
		t.Errorf("the copy lacks alice: %q %q", r.stdout, r.stderr)
	}
	if r := run(t, dir, "", "backup", "--to", copyPath, "--db", db); r.code == 0 {
		t.Error("backup over an existing file succeeded")
	}
	if r := run(t, dir, "", "backup", "--db", db); r.code != 2 {
		t.Errorf("backup without --to: exit %d", r.code)
	}
}

// TestGracefulShutdown: a request in flight when SIGTERM arrives completes;
// new connections are refused meanwhile.
func TestGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	key := strings.TrimSpace(run(t, dir, "", "keys", "generate").stdout)
	addr := freePort(t)
	s := startServe(t, dir, []string{"SSOOIDC_SECRET_KEY=" + key}, "--addr", addr)
	s.waitFor(t, `ssooidc is serving`)

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"clientName":"in-flight","clientType":"public"}`
	fmt.Fprintf(conn, "POST /client/register HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", addr, len(body), body[:10])
	time.Sleep(200 * time.Millisecond) // let the server start reading the body

	s.cmd.Process.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break // refused: the listener is closed
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("new connections still accepted 5 s after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := conn.Write([]byte(body[10:])); err != nil {
		t.Fatalf("finishing the in-flight request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight response: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("in-flight request status = %d, want 200", resp.StatusCode)
	}
	if err := s.cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, s.stderr)
	}
}

func TestDeployExampleConfigIsValid(t *testing.T) {
	dir := t.TempDir()
	key := strings.TrimSpace(run(t, dir, "", "keys", "generate").stdout)
	cfg, err := filepath.Abs("../../deploy/ssooidc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if r := runWithEnv(t, dir, []string{"SSOOIDC_SECRET_KEY=" + key}, "config", "check", cfg); r.code != 0 {
		t.Errorf("deploy/ssooidc.yaml: exit %d: %s", r.code, r.stderr)
	}
}
