package client

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// OpenSystemBrowser opens url in the person's browser: the command in
// $BROWSER (with %s replaced by the URL, else the URL appended), else
// open on macOS, the URL handler on Windows, xdg-open elsewhere. It does
// not wait for the browser to close.
func OpenSystemBrowser(url string) error {
	var cmd *exec.Cmd
	if b := os.Getenv("BROWSER"); b != "" {
		// Like Python's webbrowser: a list of commands separated by ':'; the first one that starts wins.
		var errs []error
		for c := range strings.SplitSeq(b, string(os.PathListSeparator)) {
			if c = strings.TrimSpace(c); c == "" {
				continue
			}
			args := strings.Fields(c)
			replaced := false
			for i, a := range args {
				if strings.Contains(a, "%s") {
					args[i] = strings.ReplaceAll(a, "%s", url)
					replaced = true
				}
			}
			if !replaced {
				args = append(args, url)
			}
			if err := start(exec.Command(args[0], args[1:]...)); err != nil {
				errs = append(errs, err)
				continue
			}
			return nil
		}
		return errors.Join(errs...)
	}
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	return start(cmd)
}

// start runs cmd without waiting for it, reaping it in the background.
func start(cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait()
	return nil
}
