package main

// latchkey-bench import: how fast `latchkey import` brings in keys from
// another system, against making the same keys one at a time through
// POST /v1/keys, and what an imported key's first use costs.
//
// It writes a file of -keys keys (JSON lines, with their ids): plaintext
// secrets, SHA-256 hashes in hex and in base64, and a few bcrypt and
// Argon2id hashes, with names, owners (four apps and the account),
// permissions, metadata, and some rate limits, expiries and disabled keys,
// as keys from a real system have. Then, -rounds times, each on a fresh
// Latchkey with a fresh data directory:
//
//   - the baseline: -baseline-keys keys of the same kind (without their
//     secrets: POST /v1/keys makes its own) created one per request through
//     POST /v1/keys, one request at a time, then 16 at a time, as a user
//     without the import would script it;
//   - the subject, on another fresh Latchkey: the real `latchkey import
//     FILE` (the binary under test, run as a user would, with LATCHKEY_URL
//     and LATCHKEY_API_KEY), then the same command again, which skips every
//     key; each with its wall time, the CPU time of the server and of the
//     CLI, and the server's time for each batch (POST /v1/keys/import, from
//     its request log);
//   - the cost of first use: POST /v1/verify of -sample imported keys of
//     each kind the first time (a SHA-256, bcrypt or Argon2id key adopts its
//     secret then: a store write) and the second time, against native keys
//     made through POST /v1/keys on the same server.
//
// With -postgres-rounds, the same rounds on PostgreSQL (Debian's server
// binaries, a cluster made by initdb for each server, on a Unix socket).
// With -profile DIR, an extra import on SQLite, not counted, with a CPU
// profile of the server during each of its two runs.
//
// Servers (and PostgreSQL) run on -server-cpus, this program and the CLI on
// -client-cpus, as for the other scenarios.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/latchkey/latchkey/secret"
)

// importOptions are the import scenario's settings.
type importOptions struct {
	keys         int
	rounds       int
	baselineKeys int
	batch        int
	sample       int
	saltedPool   int
	bcryptCost   int
	argonMemory  int // KiB
	pgRounds     int
	latchkeyBin  string
	profileDir   string
	profileSecs  int
	seed         uint64
	pin          pinning
	// quiet: no progress lines (the test).
	quiet bool
}

// The Argon2id parameters besides memory: OWASP's recommended minimum
// (m=19456 KiB, t=2, p=1).
const (
	argonTime    = 2
	argonThreads = 1
)

func parseImportOptions(args []string) (*importOptions, error) {
	fs := newFlagSet("import")
	o := &importOptions{}
	fs.IntVar(&o.keys, "keys", 100000, "keys in the file to import")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds on SQLite, each a baseline and an import (and its rerun) on fresh servers")
	fs.IntVar(&o.baselineKeys, "baseline-keys", 5000, "keys the baseline creates through POST /v1/keys, at concurrency 1 and again at 16")
	fs.IntVar(&o.batch, "batch", 500, "latchkey import --batch: keys per request, 1 to 1000")
	fs.IntVar(&o.sample, "sample", 200, "first use: keys of each kind verified twice (bcrypt and Argon2id: at most -salted-pool)")
	fs.IntVar(&o.saltedPool, "salted-pool", 24, "distinct bcrypt and distinct Argon2id hashes made (each is slow to make); the file's keys of each salted kind take them in turn")
	fs.IntVar(&o.bcryptCost, "bcrypt-cost", 10, "bcrypt cost of the imported bcrypt hashes")
	fs.IntVar(&o.argonMemory, "argon2-memory", 19456, "Argon2id memory in KiB of the imported Argon2id hashes (t=2, p=1)")
	fs.IntVar(&o.pgRounds, "postgres-rounds", 1, "rounds on PostgreSQL after those on SQLite (0: none); needs Debian's postgresql server binaries")
	fs.StringVar(&o.latchkeyBin, "latchkey-bin", "", "the latchkey binary, server and CLI (default: go build ./cmd/latchkey, from the repository's root)")
	fs.StringVar(&o.profileDir, "profile", "", "after the rounds, import once more on SQLite (not counted) and save CPU profiles of the server in this directory")
	fs.IntVar(&o.profileSecs, "profile-seconds", 10, "length of each CPU profile, started 2 s into the import and into its rerun")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the generated keys (names, owners, secrets; not the salts of bcrypt)")
	fs.StringVar(&o.pin.server, "server-cpus", "0", "CPUs (taskset list) for Latchkey and PostgreSQL; empty: no pinning")
	fs.StringVar(&o.pin.client, "client-cpus", "1", "CPUs (taskset list) for this program and the latchkey import CLI; empty: no pinning")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	o.pin.findTaskset("the CLI")
	return o, nil
}

func (o *importOptions) check() error {
	switch {
	case o.keys < 1 || o.keys > 1000000:
		return fmt.Errorf("-keys %d: want 1 to 1000000", o.keys)
	case o.rounds < 1 || o.rounds > 50:
		return fmt.Errorf("-rounds %d: want 1 to 50", o.rounds)
	case o.baselineKeys < 1 || o.baselineKeys > 1000000:
		return fmt.Errorf("-baseline-keys %d: want 1 to 1000000", o.baselineKeys)
	case o.batch < 1 || o.batch > 1000:
		return fmt.Errorf("-batch %d: want 1 to 1000", o.batch)
	case o.sample < 0 || o.sample > 100000:
		return fmt.Errorf("-sample %d: want 0 to 100000", o.sample)
	case o.saltedPool < 1 || o.saltedPool > 10000:
		return fmt.Errorf("-salted-pool %d: want 1 to 10000", o.saltedPool)
	case o.bcryptCost < bcrypt.MinCost || o.bcryptCost > 14:
		return fmt.Errorf("-bcrypt-cost %d: want %d to 14 (Latchkey refuses more)", o.bcryptCost, bcrypt.MinCost)
	case o.argonMemory < 8 || o.argonMemory > 64*1024:
		return fmt.Errorf("-argon2-memory %d: want 8 to 65536 KiB", o.argonMemory)
	case o.pgRounds < 0 || o.pgRounds > 50:
		return fmt.Errorf("-postgres-rounds %d: want 0 to 50", o.pgRounds)
	case o.profileSecs < 1 || o.profileSecs > 600:
		return fmt.Errorf("-profile-seconds %d: want 1 to 600", o.profileSecs)
	}
	return nil
}

// runImport is the import subcommand.
func runImport(args []string) error {
	o, err := parseImportOptions(args)
	if err != nil {
		return err
	}
	if err := pinSelf(o.pin); err != nil {
		return fmt.Errorf("pin to CPUs %s: %w", o.pin.client, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.latchkeyBin == "" {
		dir, err := os.MkdirTemp("", "latchkey-import-bin-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if o.latchkeyBin, err = buildLatchkey(ctx, dir); err != nil {
			return err
		}
	}
	rep, err := importBench(ctx, o)
	if rep != nil {
		rep.print(os.Stdout)
	}
	if err != nil {
		return err
	}
	if rep.invalid != "" {
		return fmt.Errorf("not valid: %s", rep.invalid)
	}
	return nil
}

// The kinds of key in the file, and of the keys whose first use is timed.
const (
	kindPlain = iota
	kindSHAHex
	kindSHABase64
	kindBcrypt
	kindArgon2
	kindNative // made through POST /v1/keys; not in the file
	numImportKinds
)

var importKindNames = [numImportKinds]string{"plaintext secret", "sha256-hex", "sha256-base64", "bcrypt", "argon2id", "native"}

// importMix is each imported kind's share of the file, in thousandths.
var importMix = [kindNative]int{400, 300, 260, 20, 20}

// importLine is one key of the file, as POST /v1/keys/import takes it; with
// ID, Secret, Hash and HashAlgorithm empty, a POST /v1/keys body.
type importLine struct {
	ID            string         `json:"id,omitempty"`
	Name          string         `json:"name"`
	Owner         *ownerJSON     `json:"owner,omitempty"`
	Permissions   []string       `json:"permissions,omitempty"`
	Metadata      *metadataJSON  `json:"metadata,omitempty"`
	RateLimit     *rateLimitBody `json:"rateLimit,omitempty"`
	ExpiresAt     string         `json:"expiresAt,omitempty"`
	Enabled       *bool          `json:"enabled,omitempty"`
	Secret        string         `json:"secret,omitempty"`
	Hash          string         `json:"hash,omitempty"`
	HashAlgorithm string         `json:"hashAlgorithm,omitempty"`
}

type ownerJSON struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type metadataJSON struct {
	Customer string `json:"customer"`
	Plan     string `json:"plan"`
	Region   string `json:"region"`
	Source   string `json:"source"`
	LegacyID int    `json:"legacyId"`
}

type rateLimitBody struct {
	Limit  int    `json:"limit"`
	Period string `json:"period"`
}

// impKey is one generated key: its line (owner as an index), and what its
// holder presents.
type impKey struct {
	line    importLine
	app     int // owner: index into the server's apps, -1 the account
	kind    int
	enabled bool
	secret  string // the plaintext the holder has
}

// credential is what a client presents for k: the bare secret, or
// id:secret for a salted hash (found by id only).
func (k *impKey) credential() string {
	if k.kind == kindBcrypt || k.kind == kindArgon2 {
		return k.line.ID + ":" + k.secret
	}
	return k.secret
}

// importApps are the names of the apps the keys belong to, besides the
// account itself.
var importApps = []string{"billing", "orders", "partners", "mobile"}

const base62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randString(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = base62[r.IntN(len(base62))]
	}
	return string(b)
}

// saltedHash is one distinct bcrypt or Argon2id hash and its plaintext.
type saltedHash struct{ secret, hash string }

// genImportKeys makes n keys in the mix of importMix. Salted hashes are
// slow to make (that is their point), so pool distinct ones are made of
// each salted kind and the keys of that kind take them in turn: the server
// finds a salted key by its id only, so keys sharing a hash are still
// distinct keys and import as such; only the first to be used could adopt
// a shared secret, so the first-use sample takes the first pool keys of each
// salted kind, whose secrets differ.
func genImportKeys(o *importOptions) ([]impKey, error) {
	r := rand.New(rand.NewPCG(o.seed, 0x1a7c4e))
	pools := [2][]saltedHash{make([]saltedHash, o.saltedPool), make([]saltedHash, o.saltedPool)}
	secrets := make([]string, 2*o.saltedPool)
	salts := make([][]byte, o.saltedPool)
	for i := range secrets {
		secrets[i] = "acme_" + randString(r, 32)
	}
	for i := range salts {
		salts[i] = []byte(randString(r, 16))
	}
	var wg sync.WaitGroup
	var firstErr error
	var mu sync.Mutex
	var next atomic.Int64
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for {
				j := int(next.Add(1)) - 1
				if j >= 2*o.saltedPool {
					return
				}
				i := j / 2
				if j%2 == 0 {
					sec := secrets[2*i]
					h, err := bcrypt.GenerateFromPassword([]byte(sec), o.bcryptCost)
					if err != nil {
						mu.Lock()
						firstErr = err
						mu.Unlock()
						return
					}
					pools[0][i] = saltedHash{sec, string(h)}
				} else {
					sec := secrets[2*i+1]
					key := argon2.IDKey([]byte(sec), salts[i], argonTime, uint32(o.argonMemory), argonThreads, 32)
					pools[1][i] = saltedHash{sec, fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", o.argonMemory, argonTime, argonThreads,
						base64.RawStdEncoding.EncodeToString(salts[i]), base64.RawStdEncoding.EncodeToString(key))}
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}

	perms := [][]string{{"orders.read"}, {"orders.read", "orders.write"}, {"invoices.read", "customers.read"},
		{"orders.read", "orders.write", "invoices.read", "invoices.write", "customers.read"}, {"reports.read"}}
	plans := []string{"free", "starter", "pro", "enterprise"}
	regions := []string{"eu-west-1", "us-east-1", "ap-southeast-2"}
	envs := []string{"production", "staging", "ci"}
	expiry := time.Now().UTC().AddDate(1, 0, 0).Truncate(time.Second).Format(time.RFC3339)
	keys := make([]impKey, o.keys)
	var salted [2]int
	for i := range keys {
		k := &keys[i]
		pick := r.IntN(1000)
		for k.kind = 0; k.kind < kindNative-1 && pick >= importMix[k.kind]; k.kind++ {
			pick -= importMix[k.kind]
		}
		customer := fmt.Sprintf("cus_%06d", r.IntN(60000))
		k.app = r.IntN(len(importApps)+1) - 1
		k.enabled = r.IntN(100) >= 3
		l := &k.line
		l.ID = "ext_" + randString(r, 20)
		l.Name = customer + " " + envs[r.IntN(len(envs))]
		l.Permissions = perms[r.IntN(len(perms))]
		l.Metadata = &metadataJSON{Customer: customer, Plan: plans[r.IntN(len(plans))], Region: regions[r.IntN(len(regions))],
			Source: "legacy-gateway", LegacyID: 1000000 + i}
		if r.IntN(10) == 0 {
			l.RateLimit = &rateLimitBody{Limit: 100 * (1 + r.IntN(10)), Period: "1m0s"}
		}
		if r.IntN(20) == 0 {
			l.ExpiresAt = expiry
		}
		if !k.enabled {
			l.Enabled = new(bool)
		}
		switch k.kind {
		case kindPlain, kindSHAHex, kindSHABase64:
			k.secret = "acme_" + randString(r, 32)
			sum := sha256.Sum256([]byte(k.secret))
			switch k.kind {
			case kindPlain:
				l.Secret = k.secret
			case kindSHAHex:
				l.Hash, l.HashAlgorithm = hex.EncodeToString(sum[:]), "sha256-hex"
			default:
				l.Hash, l.HashAlgorithm = base64.StdEncoding.EncodeToString(sum[:]), "sha256-base64"
			}
		case kindBcrypt, kindArgon2:
			s := k.kind - kindBcrypt
			h := pools[s][salted[s]%o.saltedPool]
			salted[s]++
			k.secret, l.Hash, l.HashAlgorithm = h.secret, h.hash, importKindNames[k.kind]
		}
	}
	return keys, nil
}

// writeImportFile writes the keys as JSON lines, owned by the server's apps.
func writeImportFile(path string, keys []impKey, apps []string) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range keys {
		l := keys[i].line
		if a := keys[i].app; a >= 0 {
			l.Owner = &ownerJSON{Type: "app", ID: apps[a]}
		}
		b, err := json.Marshal(&l)
		if err != nil {
			f.Close()
			return 0, err
		}
		w.Write(b)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return 0, err
	}
	return st.Size(), f.Close()
}

// createBody is the POST /v1/keys body of the same kind of key as k.
func createBody(k *impKey, apps []string) []byte {
	l := k.line
	l.ID, l.Secret, l.Hash, l.HashAlgorithm = "", "", "", ""
	if k.app >= 0 {
		l.Owner = &ownerJSON{Type: "app", ID: apps[k.app]}
	}
	return jsonBody(&l)
}

// lkServer is a Latchkey under test, on SQLite or PostgreSQL.
type lkServer struct {
	lk      *process
	pg      *pgCluster // nil on SQLite
	base    string
	debug   string // the debug listener's URL, if started with one
	admin   string
	dataDir string // SQLite's data directory, or the cluster's directory
	dsn     string
}

func (s *lkServer) pids() []int {
	pids := []int{s.lk.pid()}
	if s.pg != nil {
		pids = append(pids, s.pg.proc.pid())
	}
	return pids
}

func (s *lkServer) stop() {
	s.lk.stop()
	if s.pg != nil {
		s.pg.stop()
	}
	os.RemoveAll(s.dataDir)
}

// dbBytes is the database's size on disk: SQLite's file with its WAL, or
// PostgreSQL's pg_database_size.
func (s *lkServer) dbBytes(ctx context.Context) int64 {
	if s.pg != nil {
		conn, err := pgx.Connect(ctx, s.dsn)
		if err != nil {
			return 0
		}
		defer conn.Close(ctx)
		var n int64
		conn.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&n)
		return n
	}
	var n int64
	for _, name := range []string{"latchkey.db", "latchkey.db-wal"} {
		if st, err := os.Stat(filepath.Join(s.dataDir, name)); err == nil {
			n += st.Size()
		}
	}
	return n
}

// importBencher runs the rounds.
type importBencher struct {
	o        *importOptions
	work     string
	keys     []impKey
	progress func(format string, args ...any)
	client   *http.Client
	pgBin    string // the directory of initdb and postgres, "" if not found
	pgErr    error
}

// importReport is what the scenario measured.
type importReport struct {
	o                  *importOptions
	date               string
	cpus               int
	model, goVersion   string
	loadStart, loadEnd string
	pinning            string
	counts             [numImportKinds]int
	fileBytes          int64
	sqlite, postgres   []*importRound
	pgNote             string
	profiles           []string
	invalid            string // why the run is not valid, if it is not
	genTime            time.Duration
}

// importRound is one round on one store.
type importRound struct {
	c1, c16      *createRun
	first, again *importRun
	dbBytes      int64
	use          *firstUse
}

// spans of CPU time: servers (with children), this program, and the whole
// machine.
type cpuMark struct {
	server, self time.Duration
	m            machineTimes
	at           time.Time
}

func markCPU(pids []int) cpuMark {
	return cpuMark{server: treeCPU(pids), self: selfCPU(), m: machineCPU(), at: time.Now()}
}

// cpuSpan is what was used between two marks, in CPU seconds, plus the
// machine's busy time beyond the servers' and the clients' (others).
type cpuSpan struct {
	wall          time.Duration
	server, local time.Duration // local: this program, plus the CLI when it ran
	others        time.Duration
	steal         float64 // share of the machine's time stolen by the hypervisor
}

func cpuBetween(a, b cpuMark, child time.Duration) cpuSpan {
	u := cpuSpan{wall: b.at.Sub(a.at), server: b.server - a.server, local: b.self - a.self + child}
	busy := time.Duration((b.m.total-a.m.total)-(b.m.idle-a.m.idle)) * clockTick
	u.others = max(0, busy-u.server-u.local)
	if t := b.m.total - a.m.total; t > 0 {
		u.steal = float64(b.m.steal-a.m.steal) / float64(t)
	}
	return u
}

// createRun is a baseline run: keys made through POST /v1/keys.
type createRun struct {
	conc    int
	n       int
	failed  int
	first   string
	cpu     cpuSpan
	latency histogram
}

func (c *createRun) rate() float64 { return float64(c.n) / c.cpu.wall.Seconds() }

// importRun is one run of latchkey import.
type importRun struct {
	records, created, skipped, failed int
	cpu                               cpuSpan
	cli                               time.Duration // the CLI's CPU time
	batches                           histogram     // the server's time per POST /v1/keys/import, from its log
	batchSum                          time.Duration
	batchN                            int
	output                            string // the CLI's report, first line
	cliRSS, serverHWM                 int64  // peak resident memory of the CLI, and of the server so far
}

func (r *importRun) rate() float64 { return float64(r.records) / r.cpu.wall.Seconds() }

// firstUse is the first and second verification of keys of each kind.
type firstUse struct {
	first, second [numImportKinds]histogram
	n             [numImportKinds]int
	failed        int
	firstFailure  string
}

// importBench runs the whole scenario and returns its report; the report
// is returned with what was measured even when a later step fails.
func importBench(ctx context.Context, o *importOptions) (*importReport, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	b := &importBencher{o: o, progress: progress,
		client: &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 32, MaxConnsPerHost: 32, DisableCompression: true}}}
	if o.quiet {
		b.progress = func(string, ...any) {}
	}
	defer b.client.CloseIdleConnections()
	var err error
	if b.work, err = os.MkdirTemp("", "latchkey-import-bench-"); err != nil {
		return nil, err
	}
	defer os.RemoveAll(b.work)

	m := machineInfo()
	rep := &importReport{o: o, date: time.Now().UTC().Format("2006-01-02 15:04 MST"), cpus: onlineCPUs(), model: m.Model, goVersion: m.Go,
		loadStart: m.LoadStart, pinning: "none (servers and clients share every CPU)"}
	if o.pin.taskset != "" {
		rep.pinning = fmt.Sprintf("Latchkey and PostgreSQL on CPU %s; this program and the latchkey import CLI on CPU %s (taskset)", o.pin.server, o.pin.client)
	}
	b.progress("import: generating %d keys (%d distinct bcrypt hashes of cost %d, %d distinct Argon2id hashes of m=%d KiB)",
		o.keys, o.saltedPool, o.bcryptCost, o.saltedPool, o.argonMemory)
	start := time.Now()
	if b.keys, err = genImportKeys(o); err != nil {
		return nil, err
	}
	rep.genTime = time.Since(start)
	for i := range b.keys {
		rep.counts[b.keys[i].kind]++
	}
	defer func() { rep.loadEnd = loadAverage() }()

	stores := []struct {
		name   string
		rounds int
		out    *[]*importRound
	}{{"sqlite", o.rounds, &rep.sqlite}, {"postgres", o.pgRounds, &rep.postgres}}
	if o.pgRounds > 0 {
		if b.pgBin, b.pgErr = findPostgres(); b.pgErr != nil {
			rep.pgNote = "not measured: " + b.pgErr.Error()
			b.progress("import: PostgreSQL %s", rep.pgNote)
			stores[1].rounds = 0
		}
	}
	for _, st := range stores {
		for round := 1; round <= st.rounds; round++ {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			rd, err := b.round(ctx, st.name, round, rep)
			if err != nil {
				return rep, fmt.Errorf("%s round %d: %w", st.name, round, err)
			}
			*st.out = append(*st.out, rd)
		}
	}
	if o.profileDir != "" {
		files, err := b.profile(ctx)
		rep.profiles = files
		if err != nil {
			return rep, fmt.Errorf("profile: %w", err)
		}
	}
	return rep, nil
}

// startServer starts a fresh Latchkey on a fresh store: SQLite in a new data
// directory, or a new PostgreSQL cluster with an account made by latchkey
// bootstrap. debug starts its debug listener too.
func (b *importBencher) startServer(ctx context.Context, store, tag string, debug bool) (*lkServer, error) {
	dir := filepath.Join(b.work, tag)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &lkServer{dataDir: dir}
	ok := false
	defer func() {
		if !ok {
			s.stopPartial()
		}
	}()
	args := []string{"serve", "--addr", "127.0.0.1:0"}
	if debug {
		args = append(args, "--debug-addr", "127.0.0.1:0")
	}
	switch store {
	case "sqlite":
		args = append(args, "--db", "sqlite:"+filepath.Join(dir, "latchkey.db"))
	case "postgres":
		pg, err := startPostgres(b.o.pin, b.pgBin, dir)
		if err != nil {
			return nil, err
		}
		s.pg = pg
		s.dsn = pg.url("postgres")
		keyFile := filepath.Join(dir, "master.key")
		if err := os.WriteFile(keyFile, []byte(secret.NewMasterKey()), 0o600); err != nil {
			return nil, err
		}
		boot := exec.CommandContext(ctx, b.o.latchkeyBin, "bootstrap", "--db", s.dsn, "--master-key-file", keyFile)
		boot.Env = serverEnv()
		var out, errOut bytes.Buffer
		boot.Stdout, boot.Stderr = &out, &errOut
		if err := boot.Run(); err != nil {
			return nil, fmt.Errorf("latchkey bootstrap: %v\n%s", err, errOut.String())
		}
		var creds struct{ Secret string }
		if err := json.Unmarshal(out.Bytes(), &creds); err != nil || creds.Secret == "" {
			return nil, fmt.Errorf("latchkey bootstrap printed no key: %v", err)
		}
		s.admin = creds.Secret
		args = append(args, "--db", s.dsn, "--master-key-file", keyFile)
	}
	logPath := filepath.Join(dir, "latchkey.log")
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p := &process{name: "latchkey", log: logPath, cmd: b.o.pin.command(b.o.latchkeyBin, args...)}
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.start(); err != nil {
		return nil, err
	}
	s.lk = p
	deadline := time.Now().Add(60 * time.Second)
	for p.addr == "" || (debug && s.debug == "") {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("latchkey did not start within 60 s\n%s", p.tail())
		}
		select {
		case err := <-p.exited:
			return nil, fmt.Errorf("latchkey exited at start: %v\n%s", err, p.tail())
		case <-time.After(20 * time.Millisecond):
		}
		logText, _ := os.ReadFile(logPath)
		for _, line := range strings.Split(string(logText), "\n") {
			for _, field := range strings.Fields(line) {
				if v, ok := strings.CutPrefix(field, "debug_addr="); ok {
					s.debug = "http://" + v
				} else if v, ok := strings.CutPrefix(field, "addr="); ok && strings.Contains(line, "msg=listening") {
					p.addr = v
				}
			}
		}
	}
	s.base = "http://" + p.addr
	if store == "sqlite" {
		creds, err := os.ReadFile(filepath.Join(dir, "initial-credentials.json"))
		if err != nil {
			return nil, fmt.Errorf("read Latchkey's first account key: %w", err)
		}
		var c struct{ Secret string }
		if err := json.Unmarshal(creds, &c); err != nil || c.Secret == "" {
			return nil, fmt.Errorf("read Latchkey's first account key: %v", err)
		}
		s.admin = c.Secret
	}
	ok = true
	return s, nil
}

// stopPartial stops what a failed start left running.
func (s *lkServer) stopPartial() {
	if s.lk != nil && s.lk.cmd.Process != nil {
		s.lk.stop()
	}
	if s.pg != nil {
		s.pg.stop()
	}
	os.RemoveAll(s.dataDir)
}

// makeApps creates the apps the keys belong to and returns their ids.
func (b *importBencher) makeApps(ctx context.Context, s *lkServer) ([]string, error) {
	ids := make([]string, len(importApps))
	for i, name := range importApps {
		status, _, body, err := call(ctx, b.client, "POST", s.base+"/v1/apps", s.admin, jsonBody(map[string]any{"name": name}))
		var app struct{ ID string }
		if err != nil || status != 201 || json.Unmarshal(body, &app) != nil || app.ID == "" {
			return nil, fmt.Errorf("POST /v1/apps: %v %s", err, snippet(status, body))
		}
		ids[i] = app.ID
	}
	return ids, nil
}

// round is one baseline and one import (with its rerun and the first-use
// sample), each on a fresh server.
func (b *importBencher) round(ctx context.Context, store string, round int, rep *importReport) (*importRound, error) {
	o := b.o
	rd := &importRound{}
	tag := fmt.Sprintf("%s-%d", store, round)

	// The baseline.
	s, err := b.startServer(ctx, store, tag+"-baseline", false)
	if err != nil {
		return nil, err
	}
	apps, err := b.makeApps(ctx, s)
	if err == nil {
		rd.c1, err = b.create(ctx, s, apps, 1, o.baselineKeys)
	}
	if err == nil {
		b.progress("import: %s round %d: baseline, concurrency 1: %s", store, round, rd.c1.summary())
		rd.c16, err = b.create(ctx, s, apps, 16, o.baselineKeys)
	}
	s.stop()
	if err != nil {
		return nil, err
	}
	b.progress("import: %s round %d: baseline, concurrency 16: %s", store, round, rd.c16.summary())
	for _, c := range []*createRun{rd.c1, rd.c16} {
		if c.failed > 0 && rep.invalid == "" {
			rep.invalid = fmt.Sprintf("%d of the baseline's creations failed; first: %s", c.failed, c.first)
		}
	}

	// The subject.
	if s, err = b.startServer(ctx, store, tag+"-import", false); err != nil {
		return nil, err
	}
	defer s.stop()
	if apps, err = b.makeApps(ctx, s); err != nil {
		return nil, err
	}
	file := filepath.Join(s.dataDir, "keys.jsonl")
	if rep.fileBytes, err = writeImportFile(file, b.keys, apps); err != nil {
		return nil, err
	}
	if rd.first, err = b.runImportCLI(ctx, s, file); err != nil {
		return nil, err
	}
	b.progress("import: %s round %d: first import: %s", store, round, rd.first.summary())
	if rd.again, err = b.runImportCLI(ctx, s, file); err != nil {
		return nil, err
	}
	b.progress("import: %s round %d: rerun: %s", store, round, rd.again.summary())
	n := len(b.keys)
	if (rd.first.created != n || rd.first.failed != 0) && rep.invalid == "" {
		rep.invalid = fmt.Sprintf("%s round %d: the import created %d of %d keys (%d skipped, %d failed): %s",
			store, round, rd.first.created, n, rd.first.skipped, rd.first.failed, rd.first.output)
	}
	if (rd.again.skipped != n || rd.again.failed != 0) && rep.invalid == "" {
		rep.invalid = fmt.Sprintf("%s round %d: the rerun skipped %d of %d keys (%d created, %d failed): %s",
			store, round, rd.again.skipped, n, rd.again.created, rd.again.failed, rd.again.output)
	}
	rd.dbBytes = s.dbBytes(ctx)
	if o.sample > 0 {
		if rd.use, err = b.firstUse(ctx, s, apps); err != nil {
			return nil, err
		}
		b.progress("import: %s round %d: first use: %s", store, round, rd.use.summary())
		if rd.use.failed > 0 && rep.invalid == "" {
			rep.invalid = fmt.Sprintf("%s round %d: %d verifications were not VALID; first: %s", store, round, rd.use.failed, rd.use.firstFailure)
		}
	}
	return rd, nil
}

// create makes n keys through POST /v1/keys, conc requests at a time, and
// times it.
func (b *importBencher) create(ctx context.Context, s *lkServer, apps []string, conc, n int) (*createRun, error) {
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = createBody(&b.keys[i%len(b.keys)], apps)
	}
	run := &createRun{conc: conc, n: n}
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	a := markCPU(s.pids())
	for range conc {
		wg.Go(func() {
			var h histogram
			failed, first := 0, ""
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					break
				}
				t := time.Now()
				status, _, body, err := call(ctx, b.client, "POST", s.base+"/v1/keys", s.admin, bodies[i])
				h.record(time.Since(t))
				if err != nil || status != 201 {
					failed++
					if first == "" {
						first = fmt.Sprintf("%v %s", err, snippet(status, body))
					}
				}
			}
			mu.Lock()
			run.latency.merge(&h)
			run.failed += failed
			if run.first == "" {
				run.first = first
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	run.cpu = cpuBetween(a, markCPU(s.pids()), 0)
	return run, ctx.Err()
}

func (c *createRun) summary() string {
	l := c.latency.latencies()
	s := fmt.Sprintf("%d keys in %v, %.0f keys/s, p50 %s, p99 %s; server CPU %v (%s a key), this program %v, others %v, steal %.0f%%",
		c.n, c.cpu.wall.Round(time.Millisecond), c.rate(), fmtDur(l.p50), fmtDur(l.p99), c.cpu.server.Round(time.Millisecond),
		fmtDur(c.cpu.server/time.Duration(c.n)), c.cpu.local.Round(time.Millisecond), c.cpu.others.Round(time.Millisecond), 100*c.cpu.steal)
	if c.failed > 0 {
		s += fmt.Sprintf(", %d FAILED (first: %s)", c.failed, c.first)
	}
	return s
}

// cliEnv is the environment of the latchkey CLI: this program's without
// LATCHKEY_* and GOMAXPROCS, with the server's URL and key, and a home of
// its own so that no saved login is read.
func (b *importBencher) cliEnv(s *lkServer) []string {
	home := filepath.Join(b.work, "home")
	os.MkdirAll(home, 0o700)
	return append(serverEnv(), "LATCHKEY_URL="+s.base, "LATCHKEY_API_KEY="+s.admin, "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"))
}

// runImportCLI runs latchkey import FILE and times it.
func (b *importBencher) runImportCLI(ctx context.Context, s *lkServer, file string) (*importRun, error) {
	cmd := exec.CommandContext(ctx, b.o.latchkeyBin, "import", file, "--batch", strconv.Itoa(b.o.batch))
	cmd.Env = b.cliEnv(s)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	os.Truncate(s.lk.log, 0)
	a := markCPU(s.pids())
	err := cmd.Run()
	z := markCPU(s.pids())
	run := &importRun{}
	if cmd.ProcessState != nil {
		run.cli = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			run.cliRSS = ru.Maxrss << 10 // kB on Linux
		}
	}
	run.serverHWM = procStatus(s.lk.pid(), "VmHWM:")
	run.cpu = cpuBetween(a, z, run.cli)
	run.output, _, _ = strings.Cut(out.String(), "\n")
	// Exit status 1 with import_failures still reports; anything else is
	// the run failing.
	if _, scanErr := fmt.Sscanf(run.output, "%d records: %d created, %d skipped, %d failed",
		&run.records, &run.created, &run.skipped, &run.failed); scanErr != nil {
		return nil, fmt.Errorf("latchkey import: %v\nstdout: %s\nstderr: %s", err, trimOut(out.String()), trimOut(errOut.String()))
	}
	b.readBatches(s, run)
	return run, nil
}

func trimOut(s string) string {
	if len(s) > 2000 {
		s = s[:2000] + "…"
	}
	return s
}

// readBatches reads the server's time for each POST /v1/keys/import from
// its request log.
func (b *importBencher) readBatches(s *lkServer, run *importRun) {
	f, err := os.Open(s.lk.log)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, "path=/v1/keys/import ") {
			continue
		}
		for _, field := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(field, "duration="); ok {
				if d, err := time.ParseDuration(v); err == nil {
					run.batches.record(d)
					run.batchSum += d
					run.batchN++
				}
			}
		}
	}
}

func (r *importRun) summary() string {
	l := r.batches.latencies()
	return fmt.Sprintf("%s in %v, %.0f keys/s; server CPU %v, CLI CPU %v, others %v, steal %.0f%%; %d batches, server time per batch p50 %s, p90 %s, max %s, in all %v",
		r.output, r.cpu.wall.Round(time.Millisecond), r.rate(), r.cpu.server.Round(time.Millisecond), r.cli.Round(time.Millisecond),
		r.cpu.others.Round(time.Millisecond), 100*r.cpu.steal, r.batchN, fmtDur(l.p50), fmtDur(l.p90), fmtDur(l.max), r.batchSum.Round(time.Millisecond))
}

// firstUse verifies, one request at a time, -sample keys of each imported
// kind and as many native keys made now, each twice in a row.
func (b *importBencher) firstUse(ctx context.Context, s *lkServer, apps []string) (*firstUse, error) {
	o := b.o
	var creds [numImportKinds][]string
	var ids [numImportKinds][]string
	var seen [numImportKinds]int
	for i := range b.keys {
		k := &b.keys[i]
		seen[k.kind]++
		// Only the first pool keys of a salted kind have secrets of their own.
		if (k.kind == kindBcrypt || k.kind == kindArgon2) && seen[k.kind] > o.saltedPool {
			continue
		}
		if k.enabled && len(creds[k.kind]) < o.sample {
			creds[k.kind] = append(creds[k.kind], k.credential())
			ids[k.kind] = append(ids[k.kind], k.line.ID)
		}
	}
	for i := 0; len(creds[kindNative]) < o.sample && i < o.sample+len(b.keys); i++ {
		k := &b.keys[i%len(b.keys)]
		if !k.enabled {
			continue
		}
		status, _, body, err := call(ctx, b.client, "POST", s.base+"/v1/keys", s.admin, createBody(k, apps))
		var made struct{ ID, Secret string }
		if err != nil || status != 201 || json.Unmarshal(body, &made) != nil || made.Secret == "" {
			return nil, fmt.Errorf("POST /v1/keys: %v %s", err, snippet(status, body))
		}
		creds[kindNative] = append(creds[kindNative], made.Secret)
		ids[kindNative] = append(ids[kindNative], made.ID)
	}
	fu := &firstUse{}
	verify := func(kind int, cred, id string) time.Duration {
		t := time.Now()
		status, _, body, err := call(ctx, b.client, "POST", s.base+"/v1/verify", s.admin, jsonBody(map[string]string{"key": cred}))
		d := time.Since(t)
		var ans verifyAnswer
		if err != nil || status != 200 || json.Unmarshal(body, &ans) != nil || ans.Code != "VALID" || ans.KeyID != id {
			fu.failed++
			if fu.firstFailure == "" {
				fu.firstFailure = fmt.Sprintf("%s key %s: %v %s %s", importKindNames[kind], id, err, snippet(status, body), ans.Code)
			}
		}
		return d
	}
	// Kinds in turn, key by key, so that drift on a busy machine spreads
	// over all of them.
	for i := 0; ; i++ {
		more := false
		for kind := range numImportKinds {
			if i >= len(creds[kind]) {
				continue
			}
			more = true
			fu.first[kind].record(verify(kind, creds[kind][i], ids[kind][i]))
			fu.second[kind].record(verify(kind, creds[kind][i], ids[kind][i]))
			fu.n[kind]++
		}
		if !more || ctx.Err() != nil {
			break
		}
	}
	return fu, ctx.Err()
}

func (fu *firstUse) summary() string {
	var parts []string
	for kind := range numImportKinds {
		if fu.n[kind] == 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s then %s", importKindNames[kind], fmtDur(fu.first[kind].quantile(0.5)), fmtDur(fu.second[kind].quantile(0.5))))
	}
	s := "p50 " + strings.Join(parts, "; ")
	if fu.failed > 0 {
		s += fmt.Sprintf("; %d NOT VALID (first: %s)", fu.failed, fu.firstFailure)
	}
	return s
}

// profile imports once more on a fresh SQLite server with its debug
// listener, taking a CPU profile of the server during the import and during
// its rerun.
func (b *importBencher) profile(ctx context.Context) ([]string, error) {
	if err := os.MkdirAll(b.o.profileDir, 0o755); err != nil {
		return nil, err
	}
	s, err := b.startServer(ctx, "sqlite", "profile", true)
	if err != nil {
		return nil, err
	}
	defer s.stop()
	apps, err := b.makeApps(ctx, s)
	if err != nil {
		return nil, err
	}
	file := filepath.Join(s.dataDir, "keys.jsonl")
	if _, err := writeImportFile(file, b.keys, apps); err != nil {
		return nil, err
	}
	var files []string
	for _, name := range []string{"import", "rerun"} {
		path := filepath.Join(b.o.profileDir, "server-"+name+".pprof")
		errc := make(chan error, 1)
		go func() {
			if err := waitContext(ctx, 2*time.Second); err != nil {
				errc <- err
				return
			}
			client := &http.Client{Timeout: time.Duration(b.o.profileSecs+60) * time.Second}
			resp, err := client.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", s.debug, b.o.profileSecs))
			if err != nil {
				errc <- err
				return
			}
			defer resp.Body.Close()
			data, err := io.ReadAll(resp.Body)
			if err == nil && resp.StatusCode != 200 {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
			if err == nil {
				err = os.WriteFile(path, data, 0o644)
			}
			errc <- err
		}()
		run, err := b.runImportCLI(ctx, s, file)
		if err != nil {
			return files, err
		}
		b.progress("import: profiled %s: %s", name, run.summary())
		if err := <-errc; err != nil {
			return files, fmt.Errorf("CPU profile of the %s: %w", name, err)
		}
		files = append(files, path)
		b.progress("import: saved %s (go tool pprof %s %s)", path, b.o.latchkeyBin, path)
	}
	return files, nil
}

// pgCluster is a PostgreSQL server of a bench's own: a cluster made by
// initdb in dir, listening on a Unix socket there only.
type pgCluster struct {
	dir  string
	proc *process
}

func (c *pgCluster) url(db string) string {
	return "postgres://postgres@/" + db + "?host=" + c.dir
}

func (c *pgCluster) stop() {
	if c.proc == nil || c.proc.cmd.Process == nil {
		return
	}
	// A fast shutdown (SIGINT), as pg_ctl stop does.
	c.proc.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.proc.exited:
	case <-time.After(30 * time.Second):
		syscall.Kill(-c.proc.cmd.Process.Pid, syscall.SIGKILL)
		<-c.proc.exited
	}
}

// findPostgres returns the directory of initdb and postgres: Debian's
// newest, else those on PATH.
func findPostgres() (string, error) {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(found, func(i, j int) bool {
		a, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(found[i]))))
		b, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(found[j]))))
		return a < b
	})
	for i := len(found) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(filepath.Dir(found[i]), "postgres")); err == nil {
			return filepath.Dir(found[i]), nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("the PostgreSQL server binaries (initdb, postgres) are not installed (Debian: apt-get install postgresql)")
}

// startPostgres makes a cluster in dir/pg and starts it on the server CPUs,
// as the user nobody when this program runs as root (PostgreSQL refuses
// root). Durability settings keep their defaults (fsync, synchronous_commit
// on).
func startPostgres(pin pinning, bin, dir string) (*pgCluster, error) {
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			return nil, fmt.Errorf("running as root, and PostgreSQL will not: no user nobody: %w", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	pgDir := filepath.Join(dir, "pg")
	if err := os.MkdirAll(pgDir, 0o700); err != nil {
		return nil, err
	}
	if cred != nil {
		// nobody must reach the directory through its parents.
		for d := pgDir; d != filepath.Dir(d) && strings.HasPrefix(d, os.TempDir()) && d != os.TempDir(); d = filepath.Dir(d) {
			if d == pgDir {
				os.Chown(d, int(cred.Uid), int(cred.Gid))
			} else {
				os.Chmod(d, 0o711)
			}
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", filepath.Join(pgDir, "data"), "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	logPath := filepath.Join(pgDir, "postgres.log")
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c := &pgCluster{dir: pgDir}
	c.proc = &process{name: "postgres", log: logPath, cmd: pin.command(filepath.Join(bin, "postgres"), "-D", filepath.Join(pgDir, "data"),
		"-c", "listen_addresses=", "-c", "unix_socket_directories="+pgDir)}
	c.proc.cmd.SysProcAttr.Credential = cred
	c.proc.cmd.Stdout, c.proc.cmd.Stderr = f, f
	if err := c.proc.start(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, c.url("postgres"))
		if err == nil {
			conn.Close(ctx)
			return c, nil
		}
		select {
		case err := <-c.proc.exited:
			return nil, fmt.Errorf("postgres exited at start: %v\n%s", err, c.proc.tail())
		case <-ctx.Done():
			c.stop()
			return nil, fmt.Errorf("postgres did not accept connections within 60 s: %v\n%s", err, c.proc.tail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// The report.

func medianRounds[T any](rs []*importRound, f func(*importRound) T, num func(T) float64) float64 {
	xs := make([]float64, 0, len(rs))
	for _, r := range rs {
		xs = append(xs, num(f(r)))
	}
	return median(xs)
}

func (rep *importReport) print(w io.Writer) {
	o := rep.o
	fmt.Fprintf(w, "### import: %s keys through `latchkey import`\n\n", thousands(o.keys))
	fmt.Fprintf(w, "Measured %s on %d CPUs (%q), %s; load average %s at the start, %s at the end.\n", rep.date, rep.cpus, rep.model,
		rep.goVersion, rep.loadStart, rep.loadEnd)
	fmt.Fprintf(w, "Pinning: %s.\n\n", rep.pinning)
	var parts []string
	for kind := range kindNative {
		parts = append(parts, fmt.Sprintf("%s %s", thousands(rep.counts[kind]), importKindNames[kind]))
	}
	fmt.Fprintf(w, "The file: %s keys as JSON lines (%.1f MB), with their ids: %s. bcrypt cost %d, Argon2id m=%d KiB, t=%d, p=%d; "+
		"%d distinct hashes of each salted kind, which its keys take in turn (generated in %v). Owners: %d apps and the account; "+
		"names, permissions and metadata on every key, a rate limit on about 10%%, an expiry on 5%%, 3%% disabled. "+
		"`latchkey import --batch %d`: %d requests.\n\n",
		thousands(o.keys), float64(rep.fileBytes)/1e6, strings.Join(parts, ", "), o.bcryptCost, o.argonMemory, argonTime, argonThreads,
		o.saltedPool, rep.genTime.Round(100*time.Millisecond), len(importApps), o.batch, (o.keys+o.batch-1)/o.batch)
	rep.printStore(w, "SQLite", rep.sqlite)
	if len(rep.postgres) > 0 {
		rep.printStore(w, "PostgreSQL", rep.postgres)
	} else if rep.pgNote != "" {
		fmt.Fprintf(w, "PostgreSQL: %s.\n\n", rep.pgNote)
	}
	for _, p := range rep.profiles {
		fmt.Fprintf(w, "CPU profile of the server: %s\n", p)
	}
	if len(rep.profiles) > 0 {
		fmt.Fprintln(w)
	}
	if rep.invalid != "" {
		fmt.Fprintf(w, "**NOT VALID:** %s\n\n", rep.invalid)
	}
}

func (rep *importReport) printStore(w io.Writer, store string, rs []*importRound) {
	if len(rs) == 0 {
		return
	}
	o := rep.o
	rounds := fmt.Sprintf("%d rounds", len(rs))
	if len(rs) == 1 {
		rounds = "1 round"
	}
	fmt.Fprintf(w, "#### On %s: %s, each on fresh servers\n\n", store, rounds)
	fmt.Fprintf(w, "| round | import | keys/s | rerun (all skipped) | keys/s | POST /v1/keys ×1 keys/s | ×16 keys/s | import / ×1 | import / ×16 |\n")
	fmt.Fprintf(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for i, r := range rs {
		fmt.Fprintf(w, "| %d | %.1f s | %.0f | %.1f s | %.0f | %.0f | %.0f | %.1f | %.2f |\n", i+1, r.first.cpu.wall.Seconds(), r.first.rate(),
			r.again.cpu.wall.Seconds(), r.again.rate(), r.c1.rate(), r.c16.rate(), r.first.rate()/r.c1.rate(), r.first.rate()/r.c16.rate())
	}
	wall := func(r *importRun) float64 { return r.cpu.wall.Seconds() }
	first := func(r *importRound) *importRun { return r.first }
	again := func(r *importRound) *importRun { return r.again }
	rate := func(r *importRun) float64 { return r.rate() }
	c1 := medianRounds(rs, func(r *importRound) *createRun { return r.c1 }, (*createRun).rate)
	c16 := medianRounds(rs, func(r *importRound) *createRun { return r.c16 }, (*createRun).rate)
	mf := medianRounds(rs, first, rate)
	fmt.Fprintf(w, "| **median** | **%.1f s** | **%.0f** | **%.1f s** | **%.0f** | **%.0f** | **%.0f** | **%.1f** | **%.2f** |\n\n",
		medianRounds(rs, first, wall), mf, medianRounds(rs, again, wall), medianRounds(rs, again, rate), c1, c16, mf/c1, mf/c16)
	fmt.Fprintf(w, "The ratios are of the medians. The baseline makes %s keys per run (one POST /v1/keys each, the same names, owners, "+
		"permissions and metadata; its own secrets), one request at a time, then 16 at a time on the same server.\n\n", thousands(o.baselineKeys))

	// Where the time goes.
	fmt.Fprintf(w, "| where the time goes (medians) | wall | server busy with batches | per batch, server: p50 | p90 | max | "+
		"per batch, end to end | server CPU | CLI CPU | server CPU a key | CLI CPU a key | others' CPU |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, row := range []struct {
		name string
		f    func(*importRound) *importRun
	}{{"import", first}, {"rerun", again}} {
		var all histogram
		for _, r := range rs {
			all.merge(&row.f(r).batches)
		}
		l := all.latencies()
		sec := func(f func(*importRun) time.Duration) func(*importRun) float64 {
			return func(r *importRun) float64 { return f(r).Seconds() }
		}
		busy := medianRounds(rs, row.f, func(r *importRun) float64 { return r.batchSum.Seconds() / r.cpu.wall.Seconds() })
		perBatch := medianRounds(rs, row.f, func(r *importRun) float64 { return r.cpu.wall.Seconds() / float64(max(1, r.batchN)) })
		srv := medianRounds(rs, row.f, sec(func(r *importRun) time.Duration { return r.cpu.server }))
		cli := medianRounds(rs, row.f, sec(func(r *importRun) time.Duration { return r.cli }))
		others := medianRounds(rs, row.f, func(r *importRun) float64 { return r.cpu.others.Seconds() / r.cpu.wall.Seconds() })
		n := float64(o.keys)
		fmt.Fprintf(w, "| %s | %.1f s | %.0f%% | %s | %s | %s | %s | %.1f s | %.1f s | %s | %s | %.0f%% of a CPU |\n", row.name,
			medianRounds(rs, row.f, wall), 100*busy, fmtDur(l.p50), fmtDur(l.p90), fmtDur(l.max), fmtDur(secDur(perBatch)),
			srv, cli, fmtDur(secDur(srv/n)), fmtDur(secDur(cli/n)), 100*others)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Server busy: the sum of the server's logged time for each POST /v1/keys/import (from reading the request to "+
		"answering it) over the wall time; the CLI sends one batch at a time, so the rest is the CLI and the loopback. "+
		"Per-batch server times are over every batch of every round.\n\n")

	fmt.Fprintf(w, "| baseline, POST /v1/keys (medians) | keys/s | p50 | p99 | server CPU a key | others' CPU |\n|---|---:|---:|---:|---:|---:|\n")
	for _, row := range []struct {
		name string
		f    func(*importRound) *createRun
	}{{"one at a time", func(r *importRound) *createRun { return r.c1 }}, {"16 at a time", func(r *importRound) *createRun { return r.c16 }}} {
		var all histogram
		for _, r := range rs {
			all.merge(&row.f(r).latency)
		}
		l := all.latencies()
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %s | %.0f%% of a CPU |\n", row.name, medianRounds(rs, row.f, (*createRun).rate),
			fmtDur(l.p50), fmtDur(l.p99),
			fmtDur(secDur(medianRounds(rs, row.f, func(c *createRun) float64 { return c.cpu.server.Seconds() / float64(c.n) }))),
			100*medianRounds(rs, row.f, func(c *createRun) float64 { return c.cpu.others.Seconds() / c.cpu.wall.Seconds() }))
	}
	fmt.Fprintln(w)

	db := medianRounds(rs, func(r *importRound) int64 { return r.dbBytes }, func(n int64) float64 { return float64(n) })
	bytesOf := func(f func(*importRound) int64) int64 {
		return int64(medianRounds(rs, f, func(n int64) float64 { return float64(n) }))
	}
	fmt.Fprintf(w, "Medians of the rounds: the database after the import %.1f MB (%.0f bytes a key); peak resident memory of the CLI %s "+
		"(import) and %s (rerun), of the server %s after both.\n\n", db/1e6, db/float64(o.keys),
		fmtBytes(bytesOf(func(r *importRound) int64 { return r.first.cliRSS })), fmtBytes(bytesOf(func(r *importRound) int64 { return r.again.cliRSS })),
		fmtBytes(bytesOf(func(r *importRound) int64 { return r.again.serverHWM })))

	if rs[0].use == nil {
		return
	}
	var fu firstUse
	for _, r := range rs {
		for k := range numImportKinds {
			fu.first[k].merge(&r.use.first[k])
			fu.second[k].merge(&r.use.second[k])
			fu.n[k] += r.use.n[k]
		}
		fu.failed += r.use.failed
	}
	fmt.Fprintf(w, "| POST /v1/verify, one at a time | keys | first: p50 | p90 | max | second: p50 | p90 | max |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, kind := range []int{kindNative, kindPlain, kindSHAHex, kindSHABase64, kindBcrypt, kindArgon2} {
		if fu.n[kind] == 0 {
			continue
		}
		name := map[int]string{
			kindNative:    "native key (POST /v1/keys), bare secret",
			kindPlain:     "imported as plaintext, bare secret",
			kindSHAHex:    "imported as sha256-hex, bare secret (first: adoption)",
			kindSHABase64: "imported as sha256-base64, bare secret (first: adoption)",
			kindBcrypt:    fmt.Sprintf("imported as bcrypt (cost %d), id:secret (first: adoption)", o.bcryptCost),
			kindArgon2:    fmt.Sprintf("imported as argon2id (m=%d KiB, t=%d), id:secret (first: adoption)", o.argonMemory, argonTime),
		}[kind]
		a, b := fu.first[kind].latencies(), fu.second[kind].latencies()
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s |\n", name, fu.n[kind], fmtDur(a.p50), fmtDur(a.p90), fmtDur(a.max),
			fmtDur(b.p50), fmtDur(b.p90), fmtDur(b.max))
	}
	fmt.Fprintf(w, "\nEach key verified twice in a row with the account key, kinds in turn, over every round; every answer checked "+
		"(VALID, and the key's id): %d not as expected.\n\n", fu.failed)
}

// onlineCPUs counts the machine's CPUs from /proc/cpuinfo: runtime.NumCPU
// counts only those this process may run on, one once pinned.
func onlineCPUs() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.NumCPU()
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if name, _, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "processor" {
			n++
		}
	}
	return max(n, 1)
}

func secDur(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// thousands writes n with commas.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
