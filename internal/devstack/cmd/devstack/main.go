// Command devstack runs the local server stack (package
// internal/devstack): `devstack up|down|status|logs [SERVICE]|env|run
// CMD...|start|stop|kill SERVICE`. Run it through the script
// internal/devstack/devstack, which builds it once into the stack folder.
// `devstack help` prints the whole usage.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/userstream/userstream/internal/devstack"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "devstack: "+format+"\n", args...)
}

func run(args []string) int {
	st, err := devstack.FromEnv()
	if err != nil {
		logf("%v", err)
		return 2
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	cmd := ""
	if len(args) > 0 {
		cmd = args[0]
	}
	service := func() (devstack.Service, bool) {
		name := ""
		if len(args) > 1 {
			name = args[1]
		}
		svc, err := devstack.ParseService(name)
		if err != nil {
			logf("%v", err)
			return "", false
		}
		return svc, true
	}
	fail := func(err error) int {
		if err == nil {
			return 0
		}
		logf("%v", err)
		return 1
	}
	switch cmd {
	case "up":
		if err := st.Up(ctx); err != nil {
			return fail(err)
		}
		printEnv(st)
	case "start", "stop", "kill":
		if len(args) > 1 {
			// One node of a cluster: kafka-2, cassandra-3 (from 1).
			if svc, i, ok := devstack.ParseNode(args[1]); ok {
				switch cmd {
				case "start":
					return fail(st.StartNode(ctx, svc, i))
				case "stop":
					return fail(st.StopNode(ctx, svc, i))
				}
				return fail(st.KillNode(ctx, svc, i))
			}
		}
		svc, ok := service()
		if !ok {
			return 1
		}
		switch cmd {
		case "start":
			return fail(st.Start(ctx, svc))
		case "kill":
			return fail(st.Kill(ctx, svc))
		}
		return fail(st.Stop(ctx, svc))
	case "down":
		return fail(st.Down(ctx))
	case "status":
		rc := 0
		for _, s := range st.Status(ctx) {
			fmt.Println(s)
			if s.State != devstack.Up {
				rc = 1
			}
		}
		for _, p := range st.Processes() {
			fmt.Printf("  %-15s pid %-8d %6d MiB resident\n", p.Name, p.Pid, p.RSS>>20)
		}
		return rc
	case "logs":
		var svc devstack.Service
		if len(args) > 1 {
			var ok bool
			if svc, ok = service(); !ok {
				return 1
			}
		}
		lines := 40
		if n, err := strconv.Atoi(os.Getenv("LINES")); err == nil && n > 0 {
			lines = n
		}
		return fail(st.Logs(os.Stdout, svc, lines))
	case "env":
		printEnv(st)
	case "run":
		if len(args) < 2 {
			logf("usage: devstack run COMMAND [ARG...]")
			return 1
		}
		return runCommand(ctx, st, args[1:])
	default:
		fmt.Print(st.Help())
		return 2
	}
	return 0
}

func printEnv(st *devstack.Stack) {
	for _, v := range st.Env() {
		fmt.Println(v.ExportLine())
	}
}

// runCommand runs argv with the stack's variables: those already set (your
// own servers) are kept; when any the stack would set is unset, the stack
// is brought up and its values fill the gaps.
func runCommand(ctx context.Context, st *devstack.Stack, argv []string) int {
	cfg := st.Config()
	unset := func(name string) bool { return os.Getenv(name) == "" }
	missing := unset("USERSTREAM_KAFKA_BROKERS") || unset("USERSTREAM_CASSANDRA_HOSTS") || unset("USERSTREAM_POSTGRES_DSN") ||
		(cfg.Secure && unset("USERSTREAM_TEST_CASSANDRA_TLS_HOSTS")) ||
		(cfg.Registry && unset("USERSTREAM_TEST_SCHEMA_REGISTRY_URL")) ||
		(cfg.Toxiproxy && unset("USERSTREAM_TOXIPROXY_URL"))
	if missing {
		// `up` in a process of its own, as the shell supervisor did: the
		// servers it starts are then not children of the command exec'd
		// below, which would never reap them.
		self, err := os.Executable()
		if err != nil {
			logf("%v", err)
			return 1
		}
		up := exec.CommandContext(ctx, self, "up")
		up.Stderr = os.Stderr
		if err := up.Run(); err != nil {
			return 1
		}
		for _, v := range st.Env() {
			if os.Getenv(v.Name) == "" {
				os.Setenv(v.Name, v.Value)
			}
		}
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		logf("%v", err)
		return 127
	}
	err = syscall.Exec(path, argv, os.Environ())
	logf("exec %s: %v", argv[0], err)
	return 126
}
