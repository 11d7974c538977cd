// Package deploy holds the deployment files (systemd unit, example tasks);
// its test checks that the container image built by ../Dockerfile carries
// every program the worker runs. The image cannot be built on CI (no Docker
// engine), so the test reads the code and the Dockerfile instead: it finds
// the programs passed to os/exec in the worker's Go sources, maps each to
// the Debian bookworm package that ships it, and fails when the
// Dockerfile's final stage does not install that package.
package deploy

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// packages maps each program the worker runs to the Debian bookworm
// package that ships it (`dpkg -S $(command -v <program>)` on Debian 12,
// or a package that depends on that one). A program the scan finds and
// this table lacks fails the test, as does an entry the scan no longer
// finds, so the table cannot drift from the code.
var packages = map[string]string{
	"pg_dump":    "postgresql-client-15", // engine/postgres; newer majors: PGDG_CLIENTS in the Dockerfile
	"pg_restore": "postgresql-client-15",
	"mysqldump":  "mariadb-client", // engine/mysql
	"mysql":      "mariadb-client", // in mariadb-client-core, which mariadb-client depends on
	"rsync":      "rsync",          // store/rsyncstore
	"ssh":        "openssh-client", // store/rsyncstore
	"send_nsca":  "nsca-client",    // notify, --nsca-server
}

// notPrograms are the values reaching os/exec that name no program of
// ours, by file and expression. Every other value must trace back to a
// string literal or constant.
var notPrograms = map[string]string{
	"activities/hooks.go: in.Name": "the operator's own hook executables in --hooks-dir",
	"notify/nsca.go: n.Binary":     "the operator's override of send_nsca's path; the default is the literal",
}

// skipDirs are not part of a worker in the image: the throwaway PostgreSQL
// and MariaDB servers, test servers and `envsync demo` (which runs them and
// apt-get on a developer's machine) need server packages the image
// deliberately leaves out.
var skipDirs = map[string]string{
	".git":        "version control",
	"demo":        "envsync demo runs on a developer's machine, not in the image",
	"internal":    "servers for tests and the demo",
	"e2e":         "tests only",
	"bench":       "tests only",
	"deploy/helm": "the chart, and schemas/generate.go: a maintainer's tool, run with go run",
}

func TestImageInstallsEveryProgramTheWorkerRuns(t *testing.T) {
	root := ".."
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("run from deploy/ inside the repository: %v", err)
	}
	found, unresolved := scan(t, root)
	installed := dockerfilePackages(t, filepath.Join(root, "Dockerfile"))

	for _, l := range unresolved {
		if _, ok := notPrograms[l.key]; !ok {
			t.Errorf("%s: cannot tell which program %s names; pass the program as a string literal or constant (directly or through a helper's parameter), or, if it is not a program of ours, add %q to notPrograms with the reason", l.pos, l.expr, l.key)
		}
	}
	for _, prog := range sortedKeys(found) {
		where := found[prog][0]
		pkg, ok := packages[prog]
		if !ok {
			t.Errorf("%s runs %s, which deploy/image_test.go does not know: add it to packages with the bookworm package that ships it (dpkg -S $(command -v %s)) and install that package in the Dockerfile's final stage", where, prog, prog)
			continue
		}
		if !installed[pkg] {
			t.Errorf("%s runs %s, but the Dockerfile's final stage does not install %s, which ships it: add it to the apt-get install line", where, prog, pkg)
		}
	}
	for _, prog := range sortedKeys(packages) {
		if _, ok := found[prog]; !ok {
			t.Errorf("packages names %s, but no worker code runs it any more (or the scan lost track of it): remove it here and, if nothing else needs %s, from the Dockerfile", prog, packages[prog])
		}
	}
	for _, key := range sortedKeys(notPrograms) {
		if !slices.ContainsFunc(unresolved, func(l leaf) bool { return l.key == key }) {
			t.Errorf("notPrograms lists %q, which the scan no longer meets: remove it", key)
		}
	}
	t.Logf("programs: %v; installed: %v", sortedKeys(found), sortedKeys(installed))
}

// leaf is a value reaching os/exec that is not a string literal.
type leaf struct {
	key  string // "file: expression", the notPrograms key
	expr string
	pos  string
}

// pkgFiles is one directory's non-test Go files.
type pkgFiles struct {
	fset  *token.FileSet
	root  string
	files []*ast.File
}

// scan parses the worker's packages and resolves the program of every
// exec.Command, exec.CommandContext and exec.LookPath call. It returns the
// programs with the places their names are written, and the values that
// could not be traced to a name.
func scan(t *testing.T, root string) (map[string][]string, []leaf) {
	t.Helper()
	dirs := map[string][]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			if _, skip := skipDirs[filepath.ToSlash(rel)]; skip || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			dirs[filepath.Dir(p)] = append(dirs[filepath.Dir(p)], p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	found := map[string][]string{}
	var unresolved []leaf
	for _, dir := range sortedKeys(dirs) {
		pf := &pkgFiles{fset: token.NewFileSet(), root: root}
		for _, f := range dirs[dir] {
			file, err := parser.ParseFile(pf.fset, f, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			pf.files = append(pf.files, file)
		}
		r := &resolver{pkgFiles: pf, seen: map[string]bool{}}
		pf.eachCall(func(file *ast.File, fn *ast.FuncDecl, call *ast.CallExpr) {
			var arg int
			switch importedFunc(file, call, "os/exec") {
			case "Command", "LookPath":
				arg = 0
			case "CommandContext":
				arg = 1
			default:
				return
			}
			if len(call.Args) <= arg {
				return
			}
			clear(r.seen)
			for _, n := range r.names(call.Args[arg], fn) {
				if n.name != "" {
					found[n.name] = appendNew(found[n.name], n.pos)
				} else {
					unresolved = append(unresolved, n.leaf)
				}
			}
		})
	}
	for p := range found {
		slices.Sort(found[p])
	}
	return found, unresolved
}

// name is one outcome of tracing a value: a program name written at pos,
// or a leaf that names none.
type name struct {
	name, pos string
	leaf      leaf
}

type resolver struct {
	*pkgFiles
	seen map[string]bool // breaks cycles such as args = append(args, ...)
}

func (p *pkgFiles) pos(n ast.Node) string {
	pos := p.fset.Position(n.Pos())
	rel, _ := filepath.Rel(p.root, pos.Filename)
	return fmt.Sprintf("%s:%d", filepath.ToSlash(rel), pos.Line)
}

func (r *resolver) leaf(e ast.Expr) []name {
	file, _, _ := strings.Cut(r.pos(e), ":")
	s := types.ExprString(e)
	return []name{{leaf: leaf{key: file + ": " + s, expr: s, pos: r.pos(e)}}}
}

// names traces a string-valued expression in fn back to literals: through
// local assignments, package constants, parameters (to every call of fn in
// the package), helpers' return values, exec.LookPath, and the last
// argument of filepath.Join, path.Join and fmt.Sprintf (a directory joined
// to the program's name).
func (r *resolver) names(e ast.Expr, fn *ast.FuncDecl) []name {
	switch e := e.(type) {
	case *ast.ParenExpr:
		return r.names(e.X, fn)
	case *ast.BasicLit:
		s, err := strconv.Unquote(e.Value)
		if err != nil || e.Kind != token.STRING {
			return r.leaf(e)
		}
		if s == "" { // the error path of a helper: `return "", err`
			return nil
		}
		return []name{{name: path.Base(s), pos: r.pos(e)}}
	case *ast.Ident:
		return r.ident(e, fn, false)
	case *ast.IndexExpr: // args[0] of a command line held as a slice
		if lit, ok := e.Index.(*ast.BasicLit); ok && lit.Value == "0" {
			return r.first(e.X, fn)
		}
	case *ast.CallExpr:
		file := r.fileOf(e)
		switch f := importedFunc(file, e, "os/exec"); f {
		case "LookPath":
			return r.names(e.Args[0], fn)
		}
		if len(e.Args) == 0 {
			break
		}
		if f := importedFunc(file, e, "path/filepath"); f == "Join" {
			return r.names(e.Args[len(e.Args)-1], fn)
		}
		if f := importedFunc(file, e, "path"); f == "Join" {
			return r.names(e.Args[len(e.Args)-1], fn)
		}
		if f := importedFunc(file, e, "fmt"); f == "Sprintf" {
			return r.names(e.Args[len(e.Args)-1], fn)
		}
		if helper := r.localFunc(file, e); helper != nil { // a tool-finding helper: what it returns
			key := "return " + helper.Name.Name
			if r.seen[key] {
				return nil
			}
			r.seen[key] = true
			var out []name
			ast.Inspect(helper.Body, func(n ast.Node) bool {
				if _, ok := n.(*ast.FuncLit); ok {
					return false
				}
				if ret, ok := n.(*ast.ReturnStmt); ok && len(ret.Results) > 0 {
					out = append(out, r.names(ret.Results[0], helper)...)
				}
				return true
			})
			return out
		}
	}
	return r.leaf(e)
}

// first traces the first element of a slice (a command line such as
// []string{"ssh", "-o", ...}) back to literals.
func (r *resolver) first(e ast.Expr, fn *ast.FuncDecl) []name {
	switch e := e.(type) {
	case *ast.CompositeLit:
		if len(e.Elts) > 0 {
			return r.names(e.Elts[0], fn)
		}
	case *ast.Ident:
		return r.ident(e, fn, true)
	case *ast.CallExpr:
		if id, ok := e.Fun.(*ast.Ident); ok && id.Name == "append" && len(e.Args) > 0 {
			return r.first(e.Args[0], fn)
		}
	case *ast.SelectorExpr: // a struct field: every value stored in it in this package
		key := "field " + e.Sel.Name
		if r.seen[key] {
			return nil
		}
		r.seen[key] = true
		var out []name
		r.eachNode(func(_ *ast.File, in *ast.FuncDecl, n ast.Node) {
			switch n := n.(type) {
			case *ast.KeyValueExpr:
				if k, ok := n.Key.(*ast.Ident); ok && k.Name == e.Sel.Name {
					out = append(out, r.first(n.Value, in)...)
				}
			case *ast.AssignStmt:
				for i, l := range n.Lhs {
					if s, ok := l.(*ast.SelectorExpr); ok && s.Sel.Name == e.Sel.Name && len(n.Rhs) == len(n.Lhs) {
						out = append(out, r.first(n.Rhs[i], in)...)
					}
				}
			}
		})
		if len(out) > 0 {
			return out
		}
	}
	return r.leaf(e)
}

// ident follows a name: a parameter of fn to the arguments of every call
// of fn, a local variable to every value assigned to it in fn, a package
// constant or variable to its value. With first, the name holds a command
// line and its first element is followed.
func (r *resolver) ident(id *ast.Ident, fn *ast.FuncDecl, first bool) []name {
	follow := r.names
	if first {
		follow = r.first
	}
	key := fmt.Sprintf("%p %s %t", fn, id.Name, first)
	if r.seen[key] {
		return nil
	}
	r.seen[key] = true
	if fn != nil {
		if i := paramIndex(fn, id.Name); i >= 0 {
			var out []name
			r.eachCall(func(file *ast.File, caller *ast.FuncDecl, call *ast.CallExpr) {
				if r.localFunc(file, call) == fn && i < len(call.Args) {
					out = append(out, follow(call.Args[i], caller)...)
				}
			})
			if len(out) == 0 {
				return r.leaf(id)
			}
			return out
		}
		var out []name
		assigned := false
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.AssignStmt:
				for i, l := range n.Lhs {
					if l, ok := l.(*ast.Ident); ok && l.Name == id.Name {
						assigned = true
						if len(n.Rhs) == len(n.Lhs) {
							out = append(out, follow(n.Rhs[i], fn)...)
						} else { // v, err := helper(...)
							out = append(out, follow(n.Rhs[0], fn)...)
						}
					}
				}
			case *ast.ValueSpec:
				for i, l := range n.Names {
					if l.Name == id.Name && i < len(n.Values) {
						assigned = true
						out = append(out, follow(n.Values[i], fn)...)
					}
				}
			}
			return true
		})
		if assigned {
			return out
		}
	}
	for _, f := range r.files {
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && (g.Tok == token.CONST || g.Tok == token.VAR) {
				for _, s := range g.Specs {
					vs := s.(*ast.ValueSpec)
					for i, l := range vs.Names {
						if l.Name == id.Name && i < len(vs.Values) {
							return follow(vs.Values[i], nil)
						}
					}
				}
			}
		}
	}
	return r.leaf(id)
}

func paramIndex(fn *ast.FuncDecl, name string) int {
	i := 0
	for _, f := range fn.Type.Params.List {
		if len(f.Names) == 0 {
			i++
		}
		for _, n := range f.Names {
			if n.Name == name {
				return i
			}
			i++
		}
	}
	return -1
}

// localFunc is the function or method of this package that call calls, if
// any (methods are matched by name: close enough within one package).
func (p *pkgFiles) localFunc(file *ast.File, call *ast.CallExpr) *ast.FuncDecl {
	var fname string
	switch f := call.Fun.(type) {
	case *ast.Ident:
		fname = f.Name
	case *ast.SelectorExpr:
		if x, ok := f.X.(*ast.Ident); ok && importName(file, x.Name) {
			return nil
		}
		fname = f.Sel.Name
	default:
		return nil
	}
	for _, f := range p.files {
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Name.Name == fname && fd.Body != nil {
				return fd
			}
		}
	}
	return nil
}

func (p *pkgFiles) fileOf(n ast.Node) *ast.File {
	for _, f := range p.files {
		if f.FileStart <= n.Pos() && n.Pos() < f.FileEnd {
			return f
		}
	}
	return nil
}

// eachNode visits every node inside a function of the package, with its
// function.
func (p *pkgFiles) eachNode(visit func(*ast.File, *ast.FuncDecl, ast.Node)) {
	for _, f := range p.files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				if n != nil {
					visit(f, fd, n)
				}
				return true
			})
		}
	}
}

func (p *pkgFiles) eachCall(visit func(*ast.File, *ast.FuncDecl, *ast.CallExpr)) {
	p.eachNode(func(f *ast.File, fd *ast.FuncDecl, n ast.Node) {
		if c, ok := n.(*ast.CallExpr); ok {
			visit(f, fd, c)
		}
	})
}

// importedFunc is the name of the function of the package imported as
// importPath that call calls, or "".
func importedFunc(file *ast.File, call *ast.CallExpr, importPath string) string {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return ""
	}
	x, ok := sel.X.(*ast.Ident)
	if !ok {
		return ""
	}
	for _, imp := range file.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		local := path.Base(p)
		if imp.Name != nil {
			local = imp.Name.Name
		}
		if p == importPath && local == x.Name {
			return sel.Sel.Name
		}
	}
	return ""
}

func importName(file *ast.File, name string) bool {
	for _, imp := range file.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		if (imp.Name != nil && imp.Name.Name == name) || (imp.Name == nil && path.Base(p) == name) {
			return true
		}
	}
	return false
}

// dockerfilePackages returns the packages the final stage of the
// Dockerfile installs with apt-get install. Packages installed only inside
// an `if` (such as PGDG_CLIENTS) do not count: the image must hold every
// program whatever the build arguments, and words holding a shell
// expansion ($v) are not package names.
func dockerfilePackages(t *testing.T, dockerfile string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	// Join continuation lines; Docker drops comment lines, even inside one.
	var instructions []string
	var cur strings.Builder
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			continue
		}
		if s, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		if s := strings.TrimSpace(cur.String()); s != "" {
			instructions = append(instructions, s)
		}
		cur.Reset()
	}
	final := 0
	for i, ins := range instructions {
		if strings.EqualFold(strings.Fields(ins)[0], "FROM") {
			final = i
		}
	}
	installed := map[string]bool{}
	for _, ins := range instructions[final:] {
		words := strings.Fields(ins)
		if !strings.EqualFold(words[0], "RUN") {
			continue
		}
		// Words up to a command separator form one command; those after
		// "install" in an apt-get (or apt) command are packages.
		depth, command, installing := 0, "", false
		for _, w := range words[1:] {
			word := strings.TrimSuffix(w, ";")
			switch {
			case word == "if":
				depth++
			case word == "fi":
				depth--
			case word == "" || separators[word]:
			case command == "":
				command = word
			case word == "install" && (command == "apt-get" || command == "apt"):
				installing = true
			case installing && depth == 0 && !strings.HasPrefix(word, "-") && !strings.ContainsAny(word, "$()`"):
				pkg, _, _ := strings.Cut(word, "=") // name=version
				pkg, _, _ = strings.Cut(pkg, ":")   // name:arch
				installed[pkg] = true
			}
			if word != w || separators[word] || word == "if" || word == "fi" {
				command, installing = "", false
			}
		}
	}
	if len(installed) == 0 {
		t.Fatalf("%s: found no apt-get install in the final stage", dockerfile)
	}
	return installed
}

// separators end one shell command and start the next.
var separators = map[string]bool{"&&": true, "||": true, "|": true, "then": true, "else": true, "do": true}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func appendNew(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}
