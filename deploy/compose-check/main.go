// Command compose-check loads a Compose file with the compose-spec reference
// loader (schema validation, interpolation, path resolution and the loader's
// own consistency checks all switched on) and then runs a few extra checks
// that the loader does not do:
//
//   - every service with a `build:` section points at a Dockerfile that exists
//     (inline Dockerfiles and remote build contexts are accepted as-is);
//   - every `depends_on` target names a service defined in the file
//     (including services hidden behind a profile);
//   - Hotline's Kafka keeps the log (kafka.go): three brokers, a controller
//     quorum of three, replication factor 3, min.insync.replicas 2, acks=all,
//     unclean leader election off, nothing deleted by the brokers' retention.
//
// Usage:
//
//	compose-check [-p project-name] [-print] [path/to/docker-compose.yml]
//
// On success it prints "ok: N services" followed by one service name per line
// (sorted) and exits 0; with -print it prints the resolved model as YAML
// instead. On failure it prints every error found to stderr and
// exits 1. Bad usage exits 2.
//
// Variables in the file are interpolated from the process environment, the
// same way `docker compose` does (without reading a .env file).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

const defaultProjectName = "hotline"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("compose-check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	projectName := fs.String("p", defaultProjectName, "project name used while loading")
	printModel := fs.Bool("print", false, "on success, print the fully resolved model as YAML, like docker compose config")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: compose-check [-p project-name] [-print] [compose-file]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return 2
	}
	file := "docker-compose.yml"
	if fs.NArg() == 1 {
		file = fs.Arg(0)
	}

	abs, err := filepath.Abs(file)
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return 1
	}
	if st, err := os.Stat(abs); err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return 1
	} else if st.IsDir() {
		fmt.Fprintf(stderr, "error: %s is a directory, not a compose file\n", abs)
		return 1
	}

	project, errs := check(context.Background(), abs, *projectName)
	if len(errs) > 0 {
		fmt.Fprintf(stderr, "%s: %d problem(s)\n", file, len(errs))
		for _, e := range errs {
			fmt.Fprintf(stderr, "error: %v\n", e)
		}
		return 1
	}

	if *printModel {
		out, err := project.MarshalYAML()
		if err != nil {
			fmt.Fprintf(stderr, "error: %v\n", err)
			return 1
		}
		stdout.Write(out)
		return 0
	}

	names := project.ServiceNames()
	names = append(names, project.DisabledServiceNames()...)
	sort.Strings(names)
	fmt.Fprintf(stdout, "ok: %d services\n", len(names))
	for _, n := range names {
		fmt.Fprintln(stdout, n)
	}
	return 0
}

// check loads the file strictly; when the strict load fails it retries with
// the loader's consistency check off, so that our own checks can still report
// everything they find in one run.
func check(ctx context.Context, file, name string) (*types.Project, []error) {
	var errs []error

	project, err := load(ctx, file, name, true)
	if err != nil {
		errs = append(errs, err)
		project, err = load(ctx, file, name, false)
		if err != nil {
			// Schema or syntax problem: nothing more we can inspect.
			return nil, errs
		}
	}

	errs = append(errs, checkDependsOn(project)...)
	errs = append(errs, checkDockerfiles(project)...)
	errs = append(errs, checkKafka(project)...)
	return project, errs
}

func load(ctx context.Context, file, name string, consistency bool) (*types.Project, error) {
	details := types.ConfigDetails{
		WorkingDir:  filepath.Dir(file),
		ConfigFiles: []types.ConfigFile{{Filename: file}},
		Environment: types.NewMapping(os.Environ()),
	}
	return loader.LoadWithContext(ctx, details, func(o *loader.Options) {
		o.SetProjectName(name, true)
		o.SkipValidation = false    // JSON-schema validation of the Compose spec
		o.SkipInterpolation = false // ${VAR:-default} substitution
		o.ResolvePaths = true       // relative paths resolved against the file's directory
		o.SkipConsistencyCheck = !consistency
	})
}

func checkDependsOn(project *types.Project) []error {
	all := project.AllServices()
	var errs []error
	for _, svcName := range sortedKeys(all) {
		svc := all[svcName]
		for _, dep := range sortedKeys(svc.DependsOn) {
			if _, ok := all[dep]; !ok {
				errs = append(errs, fmt.Errorf("service %q: depends_on target %q is not a service in this file", svcName, dep))
			}
		}
	}
	return errs
}

func checkDockerfiles(project *types.Project) []error {
	all := project.AllServices()
	var errs []error
	for _, svcName := range sortedKeys(all) {
		b := all[svcName].Build
		if b == nil || b.DockerfileInline != "" || isRemoteContext(b.Context) {
			continue
		}
		if st, err := os.Stat(b.Context); err != nil || !st.IsDir() {
			errs = append(errs, fmt.Errorf("service %q: build context %s is not a directory", svcName, b.Context))
			continue
		}
		dockerfile := b.Dockerfile
		if dockerfile == "" {
			dockerfile = "Dockerfile"
		}
		if !filepath.IsAbs(dockerfile) {
			dockerfile = filepath.Join(b.Context, dockerfile)
		}
		st, err := os.Stat(dockerfile)
		switch {
		case errors.Is(err, os.ErrNotExist):
			errs = append(errs, fmt.Errorf("service %q: Dockerfile %s does not exist", svcName, dockerfile))
		case err != nil:
			errs = append(errs, fmt.Errorf("service %q: Dockerfile %s: %v", svcName, dockerfile, err))
		case !st.Mode().IsRegular():
			errs = append(errs, fmt.Errorf("service %q: Dockerfile %s is not a regular file", svcName, dockerfile))
		}
	}
	return errs
}

// isRemoteContext mirrors what builders accept as non-local build contexts
// (git / http(s) URLs, docker-image://, service:...); those cannot be checked
// on disk.
func isRemoteContext(c string) bool {
	if strings.Contains(c, "://") || strings.HasPrefix(c, types.ServicePrefix) {
		return true
	}
	for _, p := range []string{"github.com/", "git@"} {
		if strings.HasPrefix(c, p) {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
