package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// pinning says which CPUs the servers and the load generator run on.
// Empty strings mean no pinning.
type pinning struct {
	server, client string
	taskset        string // the taskset binary, "" when pinning is off
}

// findTaskset turns pinning on when both CPU sets are given, the machine
// has at least two CPUs, and taskset is installed; else the processes share
// the CPUs, which the progress line says, naming what shares them with the
// servers. (Once re-executed under taskset, this process sees only its own
// CPUs, hence LATCHKEY_BENCH_PINNED.)
func (p *pinning) findTaskset(others string) {
	if p.server == "" || p.client == "" || (runtime.NumCPU() < 2 && os.Getenv("LATCHKEY_BENCH_PINNED") == "") {
		return
	}
	if path, err := exec.LookPath("taskset"); err == nil {
		p.taskset = path
	} else {
		progress("taskset not found: servers and %s will share the CPUs", others)
	}
}

// buildLatchkey builds ./cmd/latchkey into dir, for a run given no
// -latchkey-bin, and returns the binary's path.
func buildLatchkey(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "latchkey")
	progress("building ./cmd/latchkey into %s", bin)
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/latchkey")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("build latchkey (run from the repository's root, or pass -latchkey-bin): %w", err)
	}
	return bin, nil
}

// pinSelf re-executes this program under taskset on the client CPUs, once:
// every thread the Go runtime makes afterwards inherits the mask, and
// GOMAXPROCS follows it.
func pinSelf(p pinning) error {
	if p.taskset == "" || p.client == "" || os.Getenv("LATCHKEY_BENCH_PINNED") != "" {
		return nil
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := append([]string{p.taskset, "-c", p.client, self}, os.Args[1:]...)
	return syscall.Exec(p.taskset, args, append(os.Environ(), "LATCHKEY_BENCH_PINNED=1"))
}

// command returns a command that runs on the server CPUs.
func (p pinning) command(name string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if p.taskset != "" && p.server != "" {
		cmd = exec.Command(p.taskset, append([]string{"-c", p.server, name}, args...)...)
	} else {
		cmd = exec.Command(name, args...)
	}
	// Its own process group, so that it and its children (nginx's workers)
	// are stopped together; killed if this program dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Env = serverEnv()
	return cmd
}

// serverEnv is this program's environment without LATCHKEY_* settings
// (which would change how Latchkey runs) and without GOMAXPROCS (the
// servers take theirs from the CPUs they are pinned to).
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "LATCHKEY_") || strings.HasPrefix(kv, "GOMAXPROCS=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// process is a server this program started.
type process struct {
	name   string
	cmd    *exec.Cmd
	addr   string
	exited chan error
	// log is where its output goes.
	log string
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// stop asks the process to end and waits for it, then kills its group if
// it has not ended within 10 s.
func (p *process) stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

func (p *process) start() error {
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.exited = make(chan error, 1)
	go func() { p.exited <- p.cmd.Wait() }()
	return nil
}

// tail returns the end of the process's log, for error messages.
func (p *process) tail() string {
	if p.log == "" {
		return ""
	}
	b, _ := os.ReadFile(p.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// startBare runs this program's bare handler (see serveBare) on the server
// CPUs: the baseline for Latchkey, and the API behind nginx.
func startBare(pin pinning) (*process, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p := &process{name: "bare handler", cmd: pin.command(self, "bare", "-addr", "127.0.0.1:0")}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.cmd.Stderr = os.Stderr
	if err := p.start(); err != nil {
		return nil, err
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		io.Copy(io.Discard, out)
	}()
	select {
	case l, ok := <-line:
		if addr, found := strings.CutPrefix(l, "listening "); ok && found {
			p.addr = addr
			return p, nil
		}
		p.stop()
		return nil, fmt.Errorf("bare handler: unexpected output %q", l)
	case <-time.After(10 * time.Second):
		p.stop()
		return nil, errors.New("bare handler did not start within 10 s")
	}
}

// serveBare is the baseline: a net/http server whose handler only answers
// 200, with nothing in its body.
func serveBare(args []string) error {
	fs := newFlagSet("bare")
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Println("listening", ln.Addr())
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	})}
	go func() {
		sig := make(chan os.Signal, 1)
		notifyStop(sig)
		<-sig
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// startLatchkey runs `latchkey serve` on a free loopback port with its data
// in dir, trusting 127.0.0.1 as a proxy (nginx), and waits until it says
// where it listens. Its log (a line per request) goes to a file in
// logDir, which the caller empties between runs.
func startLatchkey(pin pinning, bin, dir, logDir string) (*process, error) {
	logPath := filepath.Join(logDir, "latchkey.log")
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p := &process{name: "latchkey", log: logPath, cmd: pin.command(bin, "serve", "--addr", "127.0.0.1:0",
		"--db", "sqlite:"+filepath.Join(dir, "latchkey.db"), "--trusted-proxies", "127.0.0.1")}
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.exited:
			return nil, fmt.Errorf("latchkey exited at start: %v\n%s", err, p.tail())
		case <-time.After(20 * time.Millisecond):
		}
		b, _ := os.ReadFile(logPath)
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.Contains(line, "msg=listening") {
				continue
			}
			for _, field := range strings.Fields(line) {
				if addr, ok := strings.CutPrefix(field, "addr="); ok {
					p.addr = addr
					return p, nil
				}
			}
		}
	}
	p.stop()
	return nil, fmt.Errorf("latchkey did not start within 60 s\n%s", p.tail())
}

// The three addresses in the shipped nginx configuration that a user edits,
// as cmd/latchkey's nginx test rewrites them.
const (
	nginxConfLatchkey = "127.0.0.1:8080"
	nginxConfListen   = "127.0.0.1:8081"
	nginxConfAPI      = "127.0.0.1:9000"
)

// nginxConfigs returns the shipped configuration with its three addresses
// rewritten, and the main configuration that includes it beside a plain
// proxy server: the same upstream and proxy headers, without auth_request.
func nginxConfigs(shipped, dir, latchkey, gateway, plain, api string) (conf, main string, err error) {
	for _, addr := range []string{nginxConfLatchkey, nginxConfListen, nginxConfAPI} {
		if !strings.Contains(shipped, addr) {
			return "", "", fmt.Errorf("the nginx configuration no longer contains the address %s that latchkey-bench rewrites", addr)
		}
	}
	conf = strings.NewReplacer(nginxConfLatchkey, latchkey, nginxConfListen, gateway, nginxConfAPI, api).Replace(shipped)
	main = fmt.Sprintf(`daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
worker_processes 1;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;

    # The shipped configuration, its addresses rewritten: the subject.
    include %[1]s/latchkey.conf;

    # The baseline: the same API (the shipped file's upstream), proxied as
    # the shipped server does, without auth_request.
    server {
        listen %[2]s;
        location / {
            proxy_pass http://protected_api;
            proxy_http_version 1.1;
            proxy_set_header Connection        "";
            proxy_set_header Host              $host;
            proxy_set_header X-Forwarded-For   $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }
    }
}
`, dir, plain)
	return conf, main, nil
}

// findNginx returns the nginx binary: name if given, else from PATH or
// Debian's place.
func findNginx(name string) (string, error) {
	if name != "" {
		return exec.LookPath(name)
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("nginx is not installed (Debian: apt-get install nginx), or pass -nginx")
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startNginx runs nginx on the server CPUs with the configurations of
// nginxConfigs, in dir. It returns the process and the addresses of the
// gateway (the shipped server) and of the plain proxy.
func startNginx(pin pinning, bin, confPath, dir, latchkey, api string) (p *process, gateway, plain string, err error) {
	shipped, err := os.ReadFile(confPath)
	if err != nil {
		return nil, "", "", err
	}
	var lastErr error
	// A port can be taken between finding it free and nginx binding it.
	for attempt := 0; attempt < 3; attempt++ {
		if gateway, err = freeAddr(); err != nil {
			return nil, "", "", err
		}
		if plain, err = freeAddr(); err != nil {
			return nil, "", "", err
		}
		conf, mainConf, err := nginxConfigs(string(shipped), dir, latchkey, gateway, plain, api)
		if err != nil {
			return nil, "", "", err
		}
		if err := os.WriteFile(filepath.Join(dir, "latchkey.conf"), []byte(conf), 0o644); err != nil {
			return nil, "", "", err
		}
		mainPath := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(mainPath, []byte(mainConf), 0o644); err != nil {
			return nil, "", "", err
		}
		if out, err := exec.Command(bin, "-t", "-q", "-p", dir, "-c", mainPath).CombinedOutput(); err != nil {
			return nil, "", "", fmt.Errorf("nginx -t refuses the configuration: %v\n%s", err, out)
		}
		logPath := filepath.Join(dir, "error.log")
		p = &process{name: "nginx", log: logPath, cmd: pin.command(bin, "-p", dir, "-c", mainPath)}
		var out bytes.Buffer
		p.cmd.Stdout, p.cmd.Stderr = &out, &out
		if err := p.start(); err != nil {
			return nil, "", "", err
		}
		if lastErr = waitListening(p, gateway, plain); lastErr == nil {
			return p, gateway, plain, nil
		}
		p.stop()
		lastErr = fmt.Errorf("%v\n%s%s", lastErr, out.String(), p.tail())
		if !strings.Contains(lastErr.Error(), "Address already in use") {
			break
		}
	}
	return nil, "", "", lastErr
}

// waitListening waits until every address accepts connections, or p exits.
func waitListening(p *process, addrs ...string) error {
	deadline := time.Now().Add(10 * time.Second)
	for _, addr := range addrs {
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case err := <-p.exited:
				return fmt.Errorf("%s exited at start: %v", p.name, err)
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s did not accept connections on %s within 10 s", p.name, addr)
			}
		}
	}
	return nil
}

// clockTick is the unit of /proc/<pid>/stat's CPU times: USER_HZ, which
// is 100 on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// treeCPU returns the user and system CPU time used so far by the
// processes pids and all their descendants, from /proc. Processes that
// ended are not counted, so call it while they run.
func treeCPU(pids []int) time.Duration {
	if len(pids) == 0 {
		return 0
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	type stat struct {
		ppid int
		cpu  time.Duration
	}
	all := map[int]stat{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name is in parentheses and may hold spaces: the
		// fields that follow start after the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		all[pid] = stat{ppid: ppid, cpu: time.Duration(ut+st) * clockTick}
	}
	in := map[int]bool{}
	for _, pid := range pids {
		in[pid] = true
	}
	// Descendants: repeat until no process joins.
	for changed := true; changed; {
		changed = false
		for pid, s := range all {
			if !in[pid] && in[s.ppid] {
				in[pid], changed = true, true
			}
		}
	}
	var total time.Duration
	for pid := range in {
		total += all[pid].cpu
	}
	return total
}

// waitContext sleeps for d unless ctx ends first.
func waitContext(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// machineTimes are the whole machine's CPU times from /proc/stat, in ticks.
type machineTimes struct {
	total, idle, steal int64
}

func machineCPU() machineTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineTimes{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return machineTimes{}
	}
	var t machineTimes
	// user nice system idle iowait irq softirq steal (guest time is
	// already counted in user).
	for i, s := range f[1:9] {
		v, _ := strconv.ParseInt(s, 10, 64)
		t.total += v
		switch i {
		case 3, 4:
			t.idle += v
		case 7:
			t.steal += v
		}
	}
	return t
}
