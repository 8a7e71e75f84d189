package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildBinary builds the real latchkey binary once for the tests that need
// separate processes.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "latchkey-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "latchkey")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
})

// TestConcurrentFirstStarts starts servers and bootstraps at the same moment
// on a fresh data directory, many times. Each time exactly one server runs
// (the other is refused by the data directory's lock), every process uses
// the one master key that was installed, and so every credential any of
// them printed authenticates on the server that runs.
func TestConcurrentFirstStarts(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(bin)) })
	const trials, servers, bootstraps = 20, 2, 3
	for trial := range trials {
		dir := t.TempDir()
		db := "sqlite:" + filepath.Join(dir, "latchkey.db")
		environ := append(os.Environ(), "LATCHKEY_DB="+db, "LATCHKEY_ADDR=127.0.0.1:0")

		type result struct {
			out string
			err error
		}
		var wg sync.WaitGroup
		boots := make([]result, bootstraps)
		serveLogs := make(chan string, servers)
		refused := make(chan string, servers)
		var running []*exec.Cmd
		var mu sync.Mutex
		start := make(chan struct{})
		for range servers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				cmd := exec.Command(bin, "serve")
				cmd.Env = environ
				stderr, _ := cmd.StderrPipe()
				if err := cmd.Start(); err != nil {
					t.Error(err)
					return
				}
				// A server either prints where it listens, or exits refused.
				var log strings.Builder
				sc := bufio.NewScanner(stderr)
				for sc.Scan() {
					log.WriteString(sc.Text() + "\n")
					if strings.Contains(sc.Text(), "msg=listening") {
						mu.Lock()
						running = append(running, cmd)
						mu.Unlock()
						serveLogs <- log.String()
						go func() { // keep draining its log
							for sc.Scan() {
							}
						}()
						return
					}
				}
				cmd.Wait()
				refused <- log.String()
			}()
		}
		for i := range bootstraps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				cmd := exec.Command(bin, "bootstrap", "--name", "race")
				cmd.Env = environ
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				err := cmd.Run()
				if err != nil {
					err = fmt.Errorf("%w: %s", err, stderr.String())
				}
				boots[i] = result{stdout.String(), err}
			}()
		}
		close(start)
		wg.Wait()
		t.Cleanup(func() {
			for _, cmd := range running {
				cmd.Process.Signal(syscall.SIGTERM)
				cmd.Wait()
			}
		})

		if len(running) != 1 || len(refused) != servers-1 {
			t.Fatalf("trial %d: %d servers running and %d refused, want 1 and %d", trial, len(running), len(refused), servers-1)
		}
		if log := <-refused; !strings.Contains(log, "another latchkey server is running on this data directory") {
			t.Fatalf("trial %d: the second server did not say why it stopped:\n%s", trial, log)
		}
		base := "http://" + regexp.MustCompile(`addr=(\S+)`).FindStringSubmatch(<-serveLogs)[1]

		var creds []credentials
		for i, b := range boots {
			var c credentials
			if b.err != nil || json.Unmarshal([]byte(b.out), &c) != nil {
				t.Fatalf("trial %d: bootstrap %d: %v, %q", trial, i, b.err, b.out)
			}
			creds = append(creds, c)
		}
		if b, err := os.ReadFile(filepath.Join(dir, initialCredentialsFile)); err == nil {
			var c credentials
			if err := json.Unmarshal(b, &c); err != nil {
				t.Fatalf("trial %d: initial credentials are not whole: %q", trial, b)
			}
			creds = append(creds, c)
		}
		for _, c := range creds {
			req, _ := http.NewRequest("GET", base+"/v2/apps", nil)
			req.SetBasicAuth(c.ID, c.Secret)
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("trial %d: key %s from a concurrent start: %d, want 200 (its secret was sealed under a lost master key)",
					trial, c.ID, resp.StatusCode)
			}
		}
		for _, cmd := range running {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}
		running = nil
	}
}
